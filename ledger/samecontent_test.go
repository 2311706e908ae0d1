package ledger_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"compact/ledger"
)

// A re-sent event is a duplicate only when it is the same event: the same id with other
// content used to be answered "duplicate" with the stored sequence, so a publisher that
// reused an id took its new event for stored when nothing of it was. It is refused at /id
// (409, ErrConflict), over HTTP and NATS, alone and beside its first within one batch; white
// space, which the ledger does not store, makes no difference.
func TestAReusedIDWithOtherContentIsAConflict(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	creds := addEntity(t, n, dir, "UNODC", ledger.RolePublisher)
	srv := httpServer(t, n)
	publish := func(body string) (int, reply) {
		t.Helper()
		return httpPublish(t, srv.URL, creds.Token, ledger.MediaEvent, body)
	}

	first := activity("UNODC", "re-1", "A workshop in Tashkent")
	status, r := publish(first)
	if status != http.StatusCreated || r.Results[0].Seq == 0 {
		t.Fatalf("first publish: %d %+v", status, r)
	}
	seq := r.Results[0].Seq
	for name, body := range map[string]string{
		"the same bytes":       first,
		"the same, spaced out": strings.ReplaceAll(first, `,"`, ", \n  \""),
		"the same, in a batch": "[" + first + "]",
	} {
		status, r := publish(body)
		if status != http.StatusOK || len(r.Results) != 1 || !r.Results[0].Duplicate || r.Results[0].Seq != seq || r.Results[0].Error != nil {
			t.Errorf("%s: %d %+v, want 200, a duplicate of seq %d", name, status, r, seq)
		}
	}

	other := activity("UNODC", "re-1", "A workshop in Almaty")
	status, r = publish(other)
	if status != http.StatusConflict || len(r.Results) != 1 || r.Results[0].Duplicate || r.Results[0].Error == nil ||
		r.Results[0].Error.Field != "/id" || r.Results[0].Error.Reason != "conflict" ||
		!strings.Contains(r.Results[0].Error.Message, fmt.Sprintf("stored already (seq %d) with other content", seq)) {
		t.Fatalf("the same id, another title: %d %+v, want 409 at /id naming seq %d", status, r, seq)
	}

	// within one batch: the first is stored, the second with its id and other content refused
	status, r = publish("[" + activity("UNODC", "re-2", "One") + "," + activity("UNODC", "re-2", "Two") + "," + activity("UNODC", "re-2", "One") + "]")
	if status != http.StatusMultiStatus || len(r.Results) != 3 || r.Results[0].Seq == 0 || r.Results[0].Duplicate ||
		r.Results[1].Error == nil || r.Results[1].Error.Field != "/id" ||
		!r.Results[2].Duplicate || r.Results[2].Seq != r.Results[0].Seq {
		t.Fatalf("a batch with re-2 twice differently, then as first: %d %+v, want 207: stored, refused at /id, duplicate", status, r)
	}

	// over NATS, the same answer
	nc, err := connectAs(n, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if r := natsPublish(t, nc, "UNODC", other); len(r.Results) != 1 || r.Results[0].Error == nil || r.Results[0].Error.Field != "/id" || r.Results[0].Error.Reason != "conflict" {
		t.Fatalf("over NATS, the same id with another title: %+v, want refused at /id", r)
	}
	if r := natsPublish(t, nc, "UNODC", first); len(r.Results) != 1 || !r.Results[0].Duplicate || r.Results[0].Seq != seq {
		t.Fatalf("over NATS, the same event again: %+v, want a duplicate of seq %d", r, seq)
	}
}
