package demo

import (
	"encoding/json"
	"strings"
	"testing"
)

// seedSections says, for each hand-written activity, the section the seed prints it under.
var seedSections = map[string]string{
	"/entities/UNOCT 2025-06-25-compact-retreat":                      "leadership.high_level_events",
	"/entities/INTERPOL 2025-05-05-global-congress-chemical-security": "leadership.high_level_events",
	"/entities/UNODC 2025-05-19-ccpcj-34":                             "leadership.high_level_events",
	"/entities/UNOCT 2025-06-17-marrakech-platform-hlm4":              "leadership.high_level_events",
	"/entities/OSAPG 2025-06-16-hate-speech-ai-hle":                   "leadership.high_level_events",
	"/entities/OSAPG 2025-06-18-sg-hate-speech-day":                   "leadership.key_issues",
	"/entities/CTED 2025-06-25-retreat-remarks-gherman":               "leadership.key_issues",
	"/entities/UNOCT 2025-06-25-retreat-remarks-voronkov":             "leadership.key_issues",
	"/entities/SR-CTHR 2025-06-25-retreat-remarks-saul":               "leadership.key_issues",
	"/entities/UNODC 2025-05-05-moz-justice-regional-visit":           "member_states",
	"/entities/UNOCT 2025-05-13-mou-gbr-cttp":                         "member_states",
	"/entities/UNOCT 2025-05-21-mou-osce-pa":                          "member_states",
	"/entities/UNOCT 2025-06-30-mou-aipa":                             "member_states",
	"/entities/UNODC 2025-05-nga-technical-support":                   "member_states",
	"/entities/SR-CTHR 2025-05-10-som-country-visit":                  "member_states",
	"/entities/UNICRI 2025-06-12-climate-ve-expert-discussion":        "member_states",
	"/entities/CTED 2025-06-16-hun-assessment":                        "member_states",
	"/entities/CTED 2025-06-19-nor-follow-up":                         "member_states",
	"/entities/CTED 2025-06-23-tcd-follow-up":                         "member_states",
	"/entities/INTERPOL 2025-06-05-etcip-wg":                          "guidance.working_groups",
	"/entities/UNOCT 2025-06-11-pcve-wg":                              "guidance.working_groups",
	"/entities/OHCHR 2025-05-29-hrrol-vot-wg":                         "guidance.working_groups",
	"/entities/CTED 2025-06-10-nars-wg":                               "guidance.working_groups",
	"/entities/UNICRI 2025-05-13-pcve-15-years-book":                  "guidance.publications",
	"/entities/CTED 2025-06-09-valletta-principles":                   "guidance.publications",
	"/entities/UNOCT 2025-06-27-annual-report-2024":                   "guidance.publications",
	"/entities/UNIDIR 2025-06-30-future-of-space-security-ai":         "guidance.publications",
	"/entities/FATF 2025-06-financial-inclusion-guidance":             "guidance.publications",
	"/entities/OSAPG 2025-06-17-srebrenica-exhibit":                   "whats_new",
	"/entities/UNOCT 2025-06-25-compact-section-team-leader":          "whats_new",
	"/entities/UNOCT 2025-05-07-cttravel-6th-anniversary":             "joint.multi_agency",
	"/entities/UNODC 2025-05-19-aml-cft-leaders-ccpcj":                "joint.multi_agency",
	"/entities/UNOCT 2025-05-26-salw-seminar-kgz":                     "joint.multi_agency",
	"/entities/UNOCT 2025-05-29-salw-seminar-kaz":                     "joint.multi_agency",
	"/entities/UNOCT 2025-06-23-salw-seminar-tjk":                     "joint.multi_agency",
	"/entities/UNOCT 2025-06-26-salw-seminar-uzb":                     "joint.multi_agency",
	"/entities/DPPA 2025-06-04-networked-multilateralism-conference":  "joint.multi_agency",
	"/entities/UNOCT 2025-06-23-icsant-advocacy-khm":                  "joint.multi_agency",
	"/entities/UNODC 2025-05-06-stratcom-pcve-bfa-mli-ner":            "joint.regional_focus",
	"/entities/INTERPOL 2025-05-05-bio-rad-csm-workshop-nga":          "joint.regional_focus",
	"/entities/INTERPOL 2025-06-01-bio-rad-csm-workshop-irq":          "joint.regional_focus",
	"/entities/INTERPOL 2025-06-23-bio-rad-csm-workshop-jor":          "joint.regional_focus",
	"/entities/INTERPOL 2025-05-06-geiger-wg-southern-africa":         "joint.regional_focus",
	"/entities/INTERPOL 2025-05-20-geiger-wg-black-sea-caucasus":      "joint.regional_focus",
	"/entities/INTERPOL 2025-06-17-geiger-wg-central-asia":            "joint.regional_focus",
	"/entities/UNODC 2025-05-26-mena-ct-ftf-workshop":                 "joint.regional_focus",
	"/entities/UNODC 2025-06-17-pcve-workshop-latin-america":          "joint.regional_focus",
	"/entities/UNOCT 2025-06-24-rn-threats-training-khm":              "joint.regional_focus",
	"/entities/CTED 2025-05-05-oversight-accountability-ssea":         "joint.civil_society",
	"/entities/CTED 2025-05-08-ai-ct-rule-of-law-egm":                 "joint.civil_society",
	"/entities/UNODC 2025-05-12-icsant-youth-academy-reunion":         "joint.civil_society",
	"/entities/UNODC 2025-05-13-cbrn-lecture-siena":                   "joint.civil_society",
}

// activity holds the members of an activity's data that placement and the review read.
type activity struct {
	Title        string  `json:"title"`
	Start        string  `json:"start"`
	End          string  `json:"end"`
	Organizers   []actor `json:"organizers"`
	Partners     []actor `json:"partners"`
	Section      string  `json:"section"`
	Format       string  `json:"format"`
	WorkingGroup string  `json:"working_group"`
	Links        []struct {
		URL   string `json:"url"`
		Label string `json:"label"`
	} `json:"links"`
}

// place is DESIGN.md's placement rule for an activity without a curation decision.
func place(typ string, a activity) string {
	if a.Section != "" {
		return a.Section
	}
	switch {
	case typ == "compact.statement.made":
		return "leadership.key_issues"
	case typ == "compact.meeting.held" && a.Format == "working_group_meeting":
		return "guidance.working_groups"
	case typ == "compact.publication.released":
		return "guidance.publications"
	case typ == "compact.announcement.made":
		return "whats_new"
	case typ == "compact.visit.conducted", typ == "compact.agreement.signed", typ == "compact.assistance.provided":
		return "member_states"
	case typ == "compact.meeting.held" && strings.Contains(" high_level_event conference retreat commission_session ", " "+a.Format+" "):
		return "leadership.high_level_events"
	}
	entities := 0
	for _, who := range append(append([]actor{}, a.Organizers...), a.Partners...) {
		if who.Kind == "civil_society" || who.Kind == "academia" || who.Kind == "private_sector" {
			return "joint.civil_society"
		}
	}
	for _, who := range a.Organizers {
		if who.Entity != "" {
			entities++
		}
	}
	if entities >= 2 {
		return "joint.multi_agency"
	}
	return "joint.regional_focus"
}

// TestActivitiesAreTheSeeds checks the hand-written activities: each is one of the seed's, in the
// May-June 2025 period, placed where the seed prints it, naming working groups the structure
// describes, and with link labels that occur in the title (the seed underlines them in the text).
func TestActivitiesAreTheSeeds(t *testing.T) {
	raws, err := fileEvents("activities.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]bool{}
	structure, err := fileEvents("structure.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range structure {
		var e struct {
			Data struct {
				Unit string `json:"unit"`
			} `json:"data"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		units[e.Data.Unit] = true
	}
	seen := map[string]bool{}
	for _, raw := range raws {
		var e struct {
			ID     string   `json:"id"`
			Source string   `json:"source"`
			Type   string   `json:"type"`
			Data   activity `json:"data"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		key := e.Source + " " + e.ID
		seen[key] = true
		want, ok := seedSections[key]
		if !ok {
			t.Errorf("%s is not one of the seed's activities (add it to seedSections if it is)", key)
			continue
		}
		if got := place(e.Type, e.Data); got != want {
			t.Errorf("%s lands in %s, the seed prints it under %s", key, got, want)
		}
		if e.Data.Start < "2025-05-01" || e.Data.Start > "2025-06-30" {
			t.Errorf("%s starts %s, outside May-June 2025", key, e.Data.Start)
		}
		if e.Data.WorkingGroup != "" && !units[e.Data.WorkingGroup] {
			t.Errorf("%s names working group %q, which structure.jsonl does not describe", key, e.Data.WorkingGroup)
		}
		for _, l := range e.Data.Links {
			if !strings.HasPrefix(l.URL, "https://") || !strings.Contains(e.Data.Title, l.Label) {
				t.Errorf("%s: link %q (%s) must be https and its label must occur in the title", key, l.Label, l.URL)
			}
		}
	}
	for key := range seedSections {
		if !seen[key] {
			t.Errorf("the seed's %s is missing from activities.jsonl", key)
		}
	}
}
