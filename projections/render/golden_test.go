package render

import (
	"bytes"
	"context"

	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"compact/ledger"
	"compact/projections"
)

// TestGoldenReview2025_05 runs the whole pipeline — the ledger with its embedded NATS
// server, the demo dataset published through the ingest service as each entity, the
// projections folding the stream into Pebble, the renderer — and compares the May–June
// 2025 review's Markdown byte for byte with testdata/review-2025-05.md. Nothing in it is
// typed in by hand: every line comes from an event. Regenerate with -update after a
// deliberate change, and read the diff.
func TestGoldenReview2025_05(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := ledger.StartNode(ctx, ledger.NodeConfig{DataDir: dir, Listen: "127.0.0.1:-1", Ingest: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close(context.Background()) })
	if err := node.LoadDemo(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	views, err := projections.Open(ctx, projections.Config{Dir: filepath.Join(dir, "views"), JS: node.JS, NC: node.Conn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { views.Close(context.Background()) })
	if err := views.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ := node.JS.Stream(ctx, ledger.StreamName)
	info, _ := s.Info(ctx)
	if err := views.WaitFor(ctx, info.State.LastSeq); err != nil {
		t.Fatal(err)
	}
	rev, err := views.Review(ctx, "2025-05")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := Markdown(&got, rev); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "review-2025-05.md")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("review differs from %s at line %d:\n got: %s\nwant: %s", golden, i+1, g, w)
			}
		}
	}

	// The seed's title and its sections, in its order.
	var headings []string
	for _, l := range strings.Split(got.String(), "\n") {
		if strings.HasPrefix(l, "#") {
			headings = append(headings, l)
		}
	}
	seedHeadings := []string{"# Counter-Terrorism Compact in Review May-June 2025",
		"## Counter-Terrorism Compact in numbers",
		"## Leadership, coordination, coherence", "### Key high-level events", "### Key issues raised by heads of entities",
		"## Engagement with Member States",
		"## Guidance, research, analysis", "### Compact working groups meetings", "### Reports and publications",
		"## What is new",
		"## Joint initiatives and capacity-building", "### Multi-agency meetings, programmes", "### Regional focus",
		"### Collaboration with civil society, academia and the private sector",
		"## Counter-Terrorism Compact structure"}
	for i, h := range seedHeadings {
		if i >= len(headings) || !strings.EqualFold(headings[i], h) {
			t.Errorf("heading %d is %q, the seed's is %q (headings %q)", i+1, headings[min(i, len(headings)-1)], h, headings)
			break
		}
	}

	// Every activity of the seed appears under its heading with its date as the seed writes it.
	seed := []struct{ heading, text, dates string }{
		{"Key high-level events", "5th Global Congress on Chemical Security", "(5-8 May)"},
		{"Key high-level events", "first-ever retreat", "(25 June)"},
		{"Key high-level events", "34th Commission on Crime Prevention", "(19-23 May)"},
		{"Key high-level events", "Marrakech Platform", "(17 June)"},
		{"Key high-level events", "Hate Speech and Artificial Intelligence", "(16-18 June)"},
		{"Key issues raised by heads of entities", "Global Digital Compact", "(18 June)"},
		{"Key issues raised by heads of entities", "CTED ASG Gherman noted", "(25 June)"},
		{"Key issues raised by heads of entities", "UNOCT USG Voronkov stressed", "(25 June)"},
		{"Key issues raised by heads of entities", "Ben Saul", "(25 June)"},
		{"Engagement with Member States", "senior Mozambican justice officials", "(5-8 May)"},
		{"Engagement with Member States", "United Kingdom on the Counter-Terrorism Travel Programme", "(13 May)"},
		{"Engagement with Member States", "OSCE Parliamentary Assembly", "(21 May)"},
		{"Engagement with Member States", "ASEAN Inter-Parliamentary Assembly", "(30 June)"},
		{"Engagement with Member States", "technical support in Nigeria", "(May-June)"},
		{"Engagement with Member States", "visited Somalia", "(10-20 May)"},
		{"Engagement with Member States", "climate change and violent extremism", "(12 June)"},
		{"Engagement with Member States", "Hungary", "(16-18 June)"},
		{"Engagement with Member States", "Norway", "(19-20 June)"},
		{"Engagement with Member States", "Chad", "(23-27 June)"},
		{"Compact working groups meetings", "ETCIP WG", "(5 June)"},
		{"Compact working groups meetings", "PCVE WG", "(11 June)"},
		{"Compact working groups meetings", "HRRoL-VoT WG", "(29 May)"},
		{"Compact working groups meetings", "NARS WG", "(10 June)"},
		{"Reports and publications", "UNICRI book", "(13 May)"},
		{"Reports and publications", "Valletta Principles to the United Nations", "(9 June)"},
		{"Reports and publications", "2024 Annual Report", "(27 June)"},
		{"Reports and publications", "Space Security", "(30 June)"},
		{"Reports and publications", "Financial Inclusion", "(June)"},
		{"What is new", "Srebrenica", "(17 June)"},
		{"What is new", "Saule Mektepbayeva", "(25 June)"},
		{"Multi-agency meetings, programmes", "6th anniversary", "(7 May)"},
		{"Multi-agency meetings, programmes", "money laundering and terrorist financing", "(19 May)"},
		{"Multi-agency meetings, programmes", "Kyrgyz Republic", "(26-27 May)"},
		{"Multi-agency meetings, programmes", "Kazakhstan", "(29-30 May)"},
		{"Multi-agency meetings, programmes", "Tajikistan", "(23-24 June)"},
		{"Multi-agency meetings, programmes", "Uzbekistan", "(26-27 June)"},
		{"Multi-agency meetings, programmes", "Networked Multilateralism", "(4-5 June)"},
		{"Multi-agency meetings, programmes", "ICSANT", "(23 June)"},
		{"Regional focus", "Burkina Faso, Mali, and Niger", "(6-7 May)"},
		{"Regional focus", "Nigeria", "(5-9 May)"},
		{"Regional focus", "Iraq", "(1-5 June)"},
		{"Regional focus", "Jordan", "(23-26 June)"},
		{"Regional focus", "Southern Africa", "(6-8 May)"},
		{"Regional focus", "Black Sea and Caucasus", "(20-22 May)"},
		{"Regional focus", "Central Asia", "(17-19 June)"},
		{"Regional focus", "MENA region", "(26-28 May)"},
		{"Regional focus", "Latin America", "(17-18 June)"},
		{"Regional focus", "Cambodia's response", "(24-27 June)"},
		{"Collaboration with civil society, academia and the private sector", "IIJ", "(5-6 May)"},
		{"Collaboration with civil society, academia and the private sector", "GCSP", "(8 May)"},
		{"Collaboration with civil society, academia and the private sector", "Youth Academy", "(12 May)"},
		{"Collaboration with civil society, academia and the private sector", "University of Siena", "(13 May)"},
	}
	under := headingsOfLines(got.String())
	for _, s := range seed {
		found := 0
		for line, heading := range under {
			if strings.Contains(line, s.text) && strings.Contains(line, s.dates) {
				if heading != s.heading {
					t.Errorf("%q is under %q, want %q", s.text, heading, s.heading)
				}
				found++
			}
		}
		if found != 1 {
			t.Errorf("%d items with %q and %s, want 1", found, s.text, s.dates)
		}
	}
	// The seed's activities and nothing else: 52 items, and so many under each heading.
	if len(under) != len(seed) {
		t.Errorf("the review lists %d items, the seed %d", len(under), len(seed))
	}
	inSeed, inReview := map[string]int{}, map[string]int{}
	for _, s := range seed {
		inSeed[s.heading]++
	}
	for _, heading := range under {
		inReview[heading]++
	}
	for heading := range inReview {
		if _, ok := inSeed[heading]; !ok {
			inSeed[heading] = 0
		}
	}
	for heading, n := range inSeed {
		if inReview[heading] != n {
			t.Errorf("%q lists %d items, the seed %d", heading, inReview[heading], n)
		}
	}
	for _, n := range []string{"**46** Compact entities", "**137** Member States", "**14** International & regional organizations",
		"**1,050** Total focal points", "**3,670** Documents shared", "**407,000** Virtual visits to the CT Platform",
		"**861** CTED TA recommendations", "**28** CTED country assessments"} {
		if !strings.Contains(got.String(), n) {
			t.Errorf("the numbers lack %q", n)
		}
	}
	// The structure: eight working groups under four pillars, with the chairs the seed names.
	st, err := views.Structure(ctx, "2025-06-30")
	if err != nil {
		t.Fatal(err)
	}
	seedGroups := map[string]struct{ chair, coChairs, viceChairs string }{
		"Promoting and protecting human rights and the rule of law while countering terrorism and supporting victims of terrorism": {"OHCHR", "", "UNOCT"},
		"Adopting a gender-sensitive approach to preventing and countering violent extremism":                                      {"UNWOMEN", "", "CTED"},
		"Preventing and countering violent extremism conducive to terrorism":                                                       {"UNOCT", "", "UNAOC, UNDP, UNESCO"},
		"Resource mobilization, monitoring, and evaluation":                                                                        {"UNOCT", "CTED, UNODC", ""},
		"National and Regional counter-terrorism strategies":                                                                       {"CTED", "", "UNOCT"},
		"Border management and law enforcement relating to counter-terrorism":                                                      {"CTED", "WCO", "INTERPOL, UNODC"},
		"Emerging threats and critical infrastructure protection":                                                                  {"INTERPOL", "", "UNODA, UNICRI, OPCW"},
		"Criminal justice, legal responses, and countering the financing of terrorism":                                             {"UNODC", "", "CTED, UNOCT"},
	}
	pillars := map[string]int{}
	for _, wg := range st.WorkingGroups {
		pillars[wg.Pillar]++
		want, ok := seedGroups[wg.Name]
		if !ok {
			t.Errorf("working group %q is not in the seed", wg.Name)
			continue
		}
		delete(seedGroups, wg.Name)
		got := struct{ chair, coChairs, viceChairs string }{wg.Chair, strings.Join(wg.CoChairs, ", "), strings.Join(wg.ViceChairs, ", ")}
		if got != want {
			t.Errorf("working group %q: chair %q, co-chairs %q, vice-chairs %q; the seed has %q, %q, %q",
				wg.Name, got.chair, got.coChairs, got.viceChairs, want.chair, want.coChairs, want.viceChairs)
		}
	}
	for name := range seedGroups {
		t.Errorf("the seed's working group %q is missing", name)
	}
	if len(st.WorkingGroups) != 8 || len(pillars) != 4 || st.CoordinationCommittee == nil || st.Secretariat == nil {
		t.Fatalf("structure: %d working groups in %d pillars, committee %v, secretariat %v",
			len(st.WorkingGroups), len(pillars), st.CoordinationCommittee != nil, st.Secretariat != nil)
	}
	// The seed: "Chair: Under-Secretary-General for Counter-Terrorism and Head of UNOCT";
	// "UNOCT's Policy, Knowledge Management and Coordination Branch".
	if cc := st.CoordinationCommittee; cc.Chair != "UNOCT" || !strings.Contains(cc.Description, "Under-Secretary-General for Counter-Terrorism and Head of UNOCT") {
		t.Errorf("coordination committee: chair %q, %q", cc.Chair, cc.Description)
	}
	if s := st.Secretariat; !strings.Contains(s.Description, "UNOCT's Policy, Knowledge Management and Coordination Branch") {
		t.Errorf("secretariat: %q", s.Description)
	}
}

var headingLine = regexp.MustCompile(`^#{2,3} (.+)$`)

// headingsOfLines maps every item line (not the numbers) to the heading it stands under.
func headingsOfLines(md string) map[string]string {
	out := map[string]string{}
	heading := ""
	for _, l := range strings.Split(md, "\n") {
		if m := headingLine.FindStringSubmatch(l); m != nil {
			heading = m[1]
			continue
		}
		if strings.HasPrefix(l, "- ") && heading != "Counter-Terrorism Compact in numbers" {
			out[l] = heading
		}
	}
	return out
}
