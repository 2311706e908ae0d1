package projections

import (
	"encoding/json"
	"slices"
)

// SectionDef is a section of the review: its id, the group heading it sits under and its own
// heading ("" when the group has a single section and prints only the group's heading).
type SectionDef struct {
	ID      string
	Group   string
	Heading string
}

// Sections are the review's sections in the seed's order (DESIGN.md, "Review").
var Sections = []SectionDef{
	{"leadership.high_level_events", "Leadership, coordination, coherence", "Key high-level events"},
	{"leadership.key_issues", "Leadership, coordination, coherence", "Key issues raised by heads of entities"},
	{"member_states", "Engagement with Member States", ""},
	{"guidance.working_groups", "Guidance, research, analysis", "Compact working groups meetings"},
	{"guidance.publications", "Guidance, research, analysis", "Reports and publications"},
	{"whats_new", "What is new", ""},
	{"joint.multi_agency", "Joint initiatives and capacity-building", "Multi-agency meetings, programmes"},
	{"joint.regional_focus", "Joint initiatives and capacity-building", "Regional focus"},
	{"joint.civil_society", "Joint initiatives and capacity-building", "Collaboration with civil society, academia and the private sector"},
}

func sectionIndex(id string) int {
	return slices.IndexFunc(Sections, func(s SectionDef) bool { return s.ID == id })
}

// isActivityType reports whether events of type t are items of the review. (A switch, not a
// map: it is asked of every event a view applies, and a map's hash of the type was a tenth of
// a microsecond an event of a build.)
func isActivityType(t string) bool {
	switch t {
	case "compact.meeting.held", "compact.training.delivered", "compact.visit.conducted",
		"compact.agreement.signed", "compact.assistance.provided",
		"compact.publication.released", "compact.statement.made", "compact.announcement.made":
		return true
	}
	return false
}

// activity is the part of an activity's data the review uses.
type activity struct {
	Title         string   `json:"title"`
	Summary       string   `json:"summary"`
	Start         string   `json:"start"`
	End           string   `json:"end"`
	DatePrecision string   `json:"date_precision"`
	Organizers    []Actor  `json:"organizers"`
	Partners      []Actor  `json:"partners"`
	Countries     []string `json:"countries"`
	Links         []Link   `json:"links"`
	Section       string   `json:"section"`
	Format        string   `json:"format"`
	Speaker       string   `json:"speaker"`
	Role          string   `json:"role"`
	Quote         string   `json:"quote"`
}

func decodeActivity(raw json.RawMessage) (*activity, error) {
	var a activity
	if len(raw) == 0 || raw[0] != '{' || !fastActivity(raw, &a) {
		a = activity{}
		if err := decodeData(raw, &a); err != nil {
			return nil, err
		}
	}
	if a.Title == "" {
		return nil, invalid("/title", "missing")
	}
	if _, err := ParseDate(a.Start); err != nil {
		return nil, invalid("/start", "%v", err)
	}
	if a.End != "" {
		if _, err := ParseDate(a.End); err != nil {
			return nil, invalid("/end", "%v", err)
		}
		if a.End < a.Start {
			return nil, invalid("/end", "%s is before start %s", a.End, a.Start)
		}
	}
	if a.DatePrecision != "" && a.DatePrecision != "day" && a.DatePrecision != "month" {
		return nil, invalid("/date_precision", "%q is neither day nor month", a.DatePrecision)
	}
	if a.Section != "" && sectionIndex(a.Section) < 0 {
		return nil, invalid("/section", "%q is not a section of the review", a.Section)
	}
	return &a, nil
}

// ruleSection applies the placement rules of the contract, first match wins.
func ruleSection(typ string, a *activity) string {
	switch {
	case typ == "compact.statement.made":
		return "leadership.key_issues"
	case typ == "compact.meeting.held" && a.Format == "working_group_meeting":
		return "guidance.working_groups"
	case typ == "compact.publication.released":
		return "guidance.publications"
	case typ == "compact.announcement.made":
		return "whats_new"
	case typ == "compact.visit.conducted" || typ == "compact.agreement.signed" || typ == "compact.assistance.provided":
		return "member_states"
	case typ == "compact.meeting.held" && slices.Contains([]string{"high_level_event", "conference", "retreat", "commission_session"}, a.Format):
		return "leadership.high_level_events"
	}
	civil := func(x Actor) bool {
		return x.Org != "" && (x.Kind == "civil_society" || x.Kind == "academia" || x.Kind == "private_sector")
	}
	if slices.ContainsFunc(a.Organizers, civil) || slices.ContainsFunc(a.Partners, civil) {
		return "joint.civil_society"
	}
	entities := map[string]bool{}
	for _, o := range a.Organizers {
		if o.Entity != "" {
			entities[o.Entity] = true
		}
	}
	if len(entities) >= 2 {
		return "joint.multi_agency"
	}
	return "joint.regional_focus"
}
