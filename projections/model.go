package projections

import "time"

// This file holds the read models the views answer with. They are the JSON of the HTTP API
// (GET /v1/reviews/{period}, /v1/counters, /v1/structure) and the input of the renderers.

// Counters is "Compact in numbers" as of a date.
type Counters struct {
	AsOf               string `json:"as_of"` // YYYY-MM-DD, activity time
	Entities           int64  `json:"entities"`
	MemberStates       int64  `json:"member_states"`
	Organizations      int64  `json:"organizations"`
	FocalPoints        int64  `json:"focal_points"`
	DocumentsShared    int64  `json:"documents_shared"`
	VirtualVisits      int64  `json:"virtual_visits"`
	TARecommendations  int64  `json:"ta_recommendations"`
	CountryAssessments int64  `json:"country_assessments"`
	// Seq is the view's checkpoint (last stream sequence applied) when this was read.
	Seq uint64 `json:"seq"`
}

// CounterNames lists the counters in the order of the review's panel.
var CounterNames = []string{
	"entities", "member_states", "organizations", "focal_points",
	"documents_shared", "virtual_visits", "ta_recommendations", "country_assessments",
}

// Review is one bimonthly "Counter-Terrorism Compact in Review".
type Review struct {
	Period   string   `json:"period"` // first month, "2025-05"
	Title    string   `json:"title"`  // "Counter-Terrorism Compact in Review May-June 2025"
	From     string   `json:"from"`   // first day, "2025-05-01"
	To       string   `json:"to"`     // last day, "2025-06-30"
	Counters Counters `json:"counters"`
	// History holds the counters as of the last day of this and the five periods before it, oldest
	// first; fewer for a period less than five after FirstPeriod (0000-01).
	History   []Counters `json:"history,omitempty"`
	Sections  []Section  `json:"sections"`
	Structure *Structure `json:"structure,omitempty"`
	// Version increases with every committed change of the period's review.
	Version    uint64     `json:"version"`
	Provenance Provenance `json:"provenance"`
}

// Section is one heading of the review with its items in order.
type Section struct {
	ID      string `json:"id"`      // e.g. "leadership.high_level_events"
	Group   string `json:"group"`   // e.g. "Leadership, coordination, coherence"
	Heading string `json:"heading"` // e.g. "Key high-level events"
	Items   []Item `json:"items"`
}

// Item is one activity line of the review.
type Item struct {
	Source        string   `json:"source"` // "/entities/UNODC"
	ID            string   `json:"id"`
	Seq           uint64   `json:"seq"`                     // stream sequence of the original event
	CorrectedSeq  uint64   `json:"corrected_seq,omitempty"` // sequence of the latest correction applied
	Type          string   `json:"type"`
	Title         string   `json:"title"`
	Summary       string   `json:"summary,omitempty"` // what the entity said of it beyond the title
	Start         string   `json:"start"`
	End           string   `json:"end,omitempty"`
	DatePrecision string   `json:"date_precision,omitempty"` // "day" (default) or "month"
	Dates         string   `json:"dates"`                    // as the seed writes them: "5-8 May", "25 June", "June"
	Organizers    []Actor  `json:"organizers,omitempty"`
	Countries     []string `json:"countries,omitempty"`
	Links         []Link   `json:"links,omitempty"`
	Placement     string   `json:"placement"` // "curated", "hint" or "rule"
	// Quote fields, for statements.
	Speaker string `json:"speaker,omitempty"`
	Role    string `json:"role,omitempty"`
	Quote   string `json:"quote,omitempty"`
}

// Actor is exactly one of Entity, State or Org (with Kind).
type Actor struct {
	Entity string `json:"entity,omitempty"`
	State  string `json:"state,omitempty"`
	Org    string `json:"org,omitempty"`
	Kind   string `json:"kind,omitempty"`
}

// Link is a link of an activity.
type Link struct {
	URL   string `json:"url"`
	Label string `json:"label,omitempty"`
}

// Structure is the Compact's structure as of a date.
type Structure struct {
	AsOf                  string `json:"as_of"`
	WorkingGroups         []Unit `json:"working_groups"` // by pillar I..IV, then name
	CoordinationCommittee *Unit  `json:"coordination_committee,omitempty"`
	Secretariat           *Unit  `json:"secretariat,omitempty"`
	// ShortNames are the names the review prints for the entities above whose acronym is not
	// the name they go by (UNWOMEN: UN Women), as their joins give them.
	ShortNames map[string]string `json:"short_names,omitempty"`
}

// Unit is a working group, the coordination committee or the secretariat.
type Unit struct {
	Unit        string   `json:"unit"`
	Kind        string   `json:"unit_kind"`
	Name        string   `json:"name"`
	Pillar      string   `json:"pillar,omitempty"`
	Chair       string   `json:"chair,omitempty"`
	CoChairs    []string `json:"co_chairs,omitempty"`
	ViceChairs  []string `json:"vice_chairs,omitempty"`
	Description string   `json:"description,omitempty"`
	Seq         uint64   `json:"seq"`
}

// Provenance says what a rendered review was built from.
type Provenance struct {
	FirstSeq    uint64 `json:"first_seq"`
	LastSeq     uint64 `json:"last_seq"` // the view's checkpoint
	ViewVersion int    `json:"view_version"`
	// AsKnownAt is, for a review as known at a past ledger time, that time; zero for the
	// live review.
	AsKnownAt time.Time `json:"as_known_at,omitzero"`
	// Checkpoint is the latest signed checkpoint (at AsKnownAt, when set), if any. It covers
	// ledger sequences 1 to CheckpointSize, which may stop short of LastSeq (the checkpointer
	// signs every few seconds) or go past it (the view lags the checkpointer).
	CheckpointSize uint64 `json:"checkpoint_size,omitempty"`
	CheckpointRoot string `json:"checkpoint_root,omitempty"` // base64
}
