package render

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/natstest"
	"compact/projections"
	"compact/schemas/demo"
)

// The views are a Source as they are.
var _ Source = (*projections.Views)(nil)

// TestDemoReviewEndToEnd appends the demo dataset to a real JetStream COMPACT stream, folds it
// with the real views in a real Pebble, and renders the May-June 2025 review: the numbers are the
// seed's, every section of the seed is there with its items, and every item cites its event.
func TestDemoReviewEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js, last := demoLedger(ctx, t)

	views := startViews(ctx, t, js, last)
	rev, err := views.Review(ctx, "2025-05")
	if err != nil {
		t.Fatal(err)
	}

	var md bytes.Buffer
	if err := Markdown(&md, rev); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	// The seed's numbers, in the seed's order, with its labels (seed/000_b6121b9379eac46a.txt).
	rest := out
	for _, want := range []string{
		"# Counter-Terrorism Compact in Review May-June 2025\n",
		"- **46** Compact entities\n", "- **137** Member States\n", "- **14** International & regional organizations\n",
		"- **1,050** Total focal points\n", "- **3,670** Documents shared\n", "- **407,000** Virtual visits to the CT Platform\n",
		"- **861** CTED TA recommendations\n", "- **28** CTED country assessments\n",
		"## Leadership, coordination, coherence\n", "### Key high-level events\n", "### Key issues raised by heads of entities\n",
		"## Engagement with Member States\n",
		"## Guidance, research, analysis\n", "### Compact working groups meetings\n", "### Reports and publications\n",
		"## What is new\n",
		"## Joint initiatives and capacity-building\n", "### Multi-agency meetings, programmes\n", "### Regional focus\n",
		"### Collaboration with civil society, academia and the private sector\n",
		"## Counter-Terrorism Compact structure\n", "### Eight Compact working groups under four pillars\n",
		"### Counter-Terrorism Compact Coordination Committee\n", "### Counter-Terrorism Compact Secretariat\n",
		"---\n\nBuilt from ledger sequence ",
	} {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Errorf("review lacks (or misorders) %q", want)
			continue
		}
		rest = rest[i+len(want):]
	}
	// Dates as the seed writes them.
	for _, want := range []string{"(25 June)", "(5-8 May)", "(May-June)", "(June)", "(10-20 May)", "(16-18 June)"} {
		if !strings.Contains(out, want) {
			t.Errorf("review lacks the dates %q", want)
		}
	}
	items := 0
	for _, s := range rev.Sections {
		for _, it := range s.Items {
			items++
			if it.Source == "" || it.ID == "" || it.Seq == 0 {
				t.Errorf("item %q does not cite its event: %+v", it.Title, it)
			}
		}
	}
	if items != 52 {
		t.Errorf("%d items in the May-June 2025 review, the seed's activities are 52", items)
	}
	if len(rev.History) != 6 {
		t.Errorf("%d periods of history, want 6", len(rev.History))
	}
	var page bytes.Buffer
	if err := HTML(&page, rev); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), "<svg "); n != len(projections.CounterNames) {
		t.Errorf("%d charts on the page, want %d", n, len(projections.CounterNames))
	}
	if testing.Verbose() {
		t.Logf("Markdown of the demo review:\n%s", out)
	}
}

// demoLedger is a real JetStream COMPACT stream holding the demo dataset, appended as the
// ingest service stores it: one compact ledger.Event per message. It returns the last sequence.
func demoLedger(ctx context.Context, t *testing.T) (jetstream.JetStream, uint64) {
	t.Helper()
	_, js := natstest.Connect(t, natstest.Start(t))
	if _, err := js.CreateStream(ctx, ledger.StreamConfig(ledger.StreamOptions{})); err != nil {
		t.Fatal(err)
	}

	raws, err := demo.Events()
	if err != nil {
		t.Fatal(err)
	}
	var futures []jetstream.PubAckFuture
	for _, raw := range raws {
		var e ledger.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		f, err := js.PublishAsync(e.Subject(), body)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	var last uint64
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("publish acks timed out")
		}
	}
	return js, last
}

// startViews opens views (no change feed) on js in a temporary directory, starts them and
// waits until they have applied seq; they close at the test's end.
func startViews(ctx context.Context, t *testing.T, js jetstream.JetStream, seq uint64) *projections.Views {
	t.Helper()
	views, err := projections.Open(ctx, projections.Config{Dir: t.TempDir(), JS: js, DisableFeed: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = views.Close(context.Background()) })
	if err := views.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := views.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
	return views
}
