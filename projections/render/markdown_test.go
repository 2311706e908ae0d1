package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"compact/projections"
)

var update = flag.Bool("update", false, "rewrite testdata golden files from the renderers' output")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it, then read it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it; check the diff):\n--- got ---\n%s", path, got)
	}
}

func TestMarkdown(t *testing.T) {
	withScript := sampleReview()
	withScript.Sections[0].Items[0].Title = "A *bold* [claim](https://evil.example) <script>alert(1)</script> with under_scores"
	noStructure := sampleReview()
	noStructure.Structure = nil

	tests := []struct {
		name    string
		review  *projections.Review
		want    []string // lines or fragments that must appear, in this order
		notWant []string
	}{
		{
			name:   "seed-like review",
			review: sampleReview(),
			want: []string{
				"# Counter-Terrorism Compact in Review May-June 2025\n",
				"## Counter-Terrorism Compact in numbers\n",
				"As of 30 June 2025.\n",
				"- **46** Compact entities\n",
				"- **137** Member States\n",
				"- **14** International & regional organizations\n",
				"- **1,050** Total focal points\n",
				"- **3,670** Documents shared\n",
				"- **407,000** Virtual visits to the CT Platform\n",
				"- **861** CTED TA recommendations\n",
				"- **28** CTED country assessments\n",
				"## Leadership, coordination, coherence\n\n### Key high-level events\n",
				"- INTERPOL co-organized the 5th Global Congress on Chemical Security and Emerging Threats, gathering 320 experts from 100 countries and 6 IOs (5-8 May)[^1]\n",
				"on Hate Speech and Artificial Intelligence (16-18 June) — [high-level event](https://www.un.org/en/hate-speech/events/high-level-event)[^2]\n",
				"### Key issues raised by heads of entities\n",
				"## Engagement with Member States\n\n- UNODC provided",
				"(May-June)[^4]\n",
				"- CTC/CTED conducted a first assessment visit to Hungary (16-18 June)[^5]\n",
				"## Guidance, research, analysis\n\n### Reports and publications\n",
				"(30 June) — [Space Security](https://unidir.org/publication/space-security-ai), [Full report (PDF)](https://unidir.org/files/space-security-ai.pdf)[^6]\n",
				"## What is new\n",
				"## Joint initiatives and capacity-building\n\n### Multi-agency meetings, programmes\n",
				"### Collaboration with civil society, academia and the private sector\n",
				"## Counter-Terrorism Compact structure\n\n### Four Compact working groups under three pillars\n",
				"| Pillar | Working group | Chair | Co-Chairs | Vice-Chairs |\n",
				"| Pillar I | Preventing and countering violent extremism conducive to terrorism | UNOCT |  | UNAOC, UNDP, UNESCO |\n",
				"| Pillar II | Border management and law enforcement relating to counter-terrorism | CTED | WCO | INTERPOL, UNODC |\n",
				"| Pillar IV |",
				"### Counter-Terrorism Compact Coordination Committee\n\nChair: UNOCT. Chaired by",
				"### Counter-Terrorism Compact Secretariat\n\nUNOCT's Policy",
				"[^1]: INTERPOL#2025-05-05-global-congress-chemical-security@1930\n",
				"[^4]: UNODC#2025-05-nga-technical-support@1940, corrected @1975\n",
				"---\n\nBuilt from ledger sequence 1 to 1977 (review version 52, view version 1). Latest signed checkpoint: tree size 1977, root `q1x0aY3Zb+8n2m/9Kc7d4Q5r6s0tUvWxYzAbCdEfGhI=`.\n",
			},
			// Empty sections are left out.
			notWant: []string{"Compact working groups meetings", "Regional focus", "No activities"},
		},
		{
			name:   "empty period",
			review: emptyReview(),
			want: []string{
				"# Counter-Terrorism Compact in Review July-August 2025\n",
				"As of 31 August 2025.\n",
				"- **0** Compact entities\n",
				"No activities have been published for this period yet.\n",
				"---\n\nBuilt from an empty ledger (review version 0, view version 0). No signed checkpoint covers it yet.\n",
			},
			notWant: []string{"###", "[^", "## Counter-Terrorism Compact structure"},
		},
		{
			name:    "event text is escaped",
			review:  withScript,
			want:    []string{`- A \*bold\* \[claim\](https://evil.example) \<script\>alert(1)\</script\> with under\_scores (5-8 May)[^1]`},
			notWant: []string{"<script>", "[claim](https://evil.example)"},
		},
		{
			name:    "no structure",
			review:  noStructure,
			want:    []string{"[^8]: UNOCT#2025-05-26-salw-seminar-kgz@1960\n"},
			notWant: []string{"## Counter-Terrorism Compact structure"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Markdown(&b, tt.review); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("missing (or out of order): %q\n--- output ---\n%s", w, out)
					continue
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("unexpected %q in:\n%s", w, out)
				}
			}
		})
	}
}

// TestMarkdownGolden pins the whole output of the seed-like review byte for byte.
func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, sampleReview()); err != nil {
		t.Fatal(err)
	}
	golden(t, "sample.md", b.Bytes())
}

func TestRenderersRefuseNil(t *testing.T) {
	for name, f := range renderers {
		if err := f(&bytes.Buffer{}, nil); err == nil {
			t.Errorf("%s(nil) did not fail", name)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 46: "46", 999: "999", 1050: "1,050", 407000: "407,000", 1234567: "1,234,567", -1050: "-1,050"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestProvenanceSaysWhatTheCheckpointCovers: a checkpoint covers ledger sequences 1 to its
// tree size, which may stop short of the review's last sequence or go past it; a review as
// known at a past time names the checkpoint that was the latest then, never "yet".
func TestProvenanceSaysWhatTheCheckpointCovers(t *testing.T) {
	const root = "q1x0aY3Zb+8n2m/9Kc7d4Q5r6s0tUvWxYzAbCdEfGhI="
	at := time.Date(2025, 7, 1, 2, 0, 0, 500, time.FixedZone("", 2*3600))
	tests := []struct {
		name string
		prov projections.Provenance
		want string
	}{
		{"live, checkpoint at the last sequence", projections.Provenance{FirstSeq: 1, LastSeq: 1977, ViewVersion: 1, CheckpointSize: 1977, CheckpointRoot: root},
			"Built from ledger sequence 1 to 1977 (review version 52, view version 1). Latest signed checkpoint: tree size 1977, root `" + root + "`.\n"},
		{"live, checkpoint behind", projections.Provenance{FirstSeq: 1, LastSeq: 1977, ViewVersion: 1, CheckpointSize: 1900, CheckpointRoot: root},
			"Latest signed checkpoint: tree size 1900, root `" + root + "`; it covers ledger sequences 1 to 1900 only, not 1901 to 1977.\n"},
		{"live, checkpoint one behind", projections.Provenance{FirstSeq: 1, LastSeq: 1977, ViewVersion: 1, CheckpointSize: 1976, CheckpointRoot: root},
			"; it covers ledger sequences 1 to 1976 only, not 1977.\n"},
		{"live, checkpoint ahead", projections.Provenance{FirstSeq: 1, LastSeq: 1977, ViewVersion: 1, CheckpointSize: 2000, CheckpointRoot: root},
			"Latest signed checkpoint: tree size 2000, root `" + root + "`; it covers ledger sequences 1 to 2000, beyond this range.\n"},
		{"as known, checkpoint behind", projections.Provenance{FirstSeq: 1, LastSeq: 5, ViewVersion: 1, AsKnownAt: at, CheckpointSize: 3, CheckpointRoot: root},
			"Built from ledger sequence 1 to 5 as known at 2025-07-01T00:00:00.0000005Z (review version 52, view version 1). " +
				"Latest signed checkpoint at that time: tree size 3, root `" + root + "`; it covers ledger sequences 1 to 3 only, not 4 to 5.\n"},
		{"as known, checkpoint at the last sequence", projections.Provenance{FirstSeq: 1, LastSeq: 5, ViewVersion: 1, AsKnownAt: at, CheckpointSize: 5, CheckpointRoot: root},
			"Latest signed checkpoint at that time: tree size 5, root `" + root + "`.\n"},
		{"as known, no checkpoint then", projections.Provenance{FirstSeq: 1, LastSeq: 5, ViewVersion: 1, AsKnownAt: at},
			"(review version 52, view version 1). No signed checkpoint had been appended by then.\n"},
		{"as known, empty ledger", projections.Provenance{AsKnownAt: at},
			"Built from an empty ledger as known at 2025-07-01T00:00:00.0000005Z (review version 52, view version 0). No signed checkpoint had been appended by then.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReview()
			r.Provenance = tt.prov
			r.Counters.Seq = tt.prov.LastSeq
			var b bytes.Buffer
			if err := Markdown(&b, r); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if !strings.HasSuffix(out, tt.want) {
				t.Errorf("the provenance does not end with\n%q\ngot\n%q", tt.want, out[strings.LastIndex(out, "---"):])
			}
		})
	}
}
