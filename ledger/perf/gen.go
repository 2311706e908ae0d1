package perf

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// History generates a synthetic ledger history of the demo's mix — activities of every
// type and placement, focal points registered and removed, documents, platform visits,
// recommendations — spread over the years before 2025, so that each bimonthly period
// holds a share of the activities as the real ledger will. It is deterministic for a seed.
type History struct {
	r     *rand.Rand
	n     int
	start time.Time
	days  int
}

// NewHistory returns a generator whose events' activity dates run from 2000 to 2024, so
// that the demo's May–June 2025 review keeps its size however long the history grows.
func NewHistory(seed uint64) *History {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	return &History{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), start: start,
		days: int(time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC).Sub(start).Hours() / 24)}
}

var (
	histEntities = []string{"UNOCT", "CTED", "UNODC", "INTERPOL", "UNICRI", "OHCHR", "UNDP", "UNESCO", "WCO", "UNAOC"}
	histStates   = []string{"NGA", "IRQ", "JOR", "KAZ", "KGZ", "TJK", "UZB", "MAR", "EGY", "MOZ", "HUN", "NOR", "TCD", "KHM", "SOM", "MLI", "NER", "BFA"}
	histFormats  = []string{"high_level_event", "conference", "expert_meeting", "seminar", "side_event", "working_group_meeting"}
	histGroups   = []string{"pcve", "gender", "bmle", "etcip", "cjlr-cft", "rmme", "nars", "hrrol-vot"}
)

// Next returns the next event, as raw CloudEvent JSON, and its entity.
func (h *History) Next() (entity string, event []byte) {
	h.n++
	r := h.r
	d := h.start.AddDate(0, 0, r.IntN(h.days))
	date := d.Format(time.DateOnly)
	end := d.AddDate(0, 0, r.IntN(4)).Format(time.DateOnly)
	ent := histEntities[r.IntN(len(histEntities))]
	id := fmt.Sprintf("h-%09d", h.n)
	state := histStates[r.IntN(len(histStates))]
	var typ, data string
	switch k := r.IntN(100); {
	case k < 25:
		typ = "compact.meeting.held"
		f := histFormats[r.IntN(len(histFormats))]
		wg := ""
		if f == "working_group_meeting" {
			wg = fmt.Sprintf(`,"working_group":%q`, histGroups[r.IntN(len(histGroups))])
		}
		data = fmt.Sprintf(`{"title":"%s held a meeting on countering terrorism with partners from the region (%d)","start":%q,"end":%q,"organizers":[{"entity":%q}],"countries":[%q],"format":%q%s}`, ent, h.n, date, end, ent, state, f, wg)
	case k < 40:
		typ = "compact.training.delivered"
		data = fmt.Sprintf(`{"title":"%s delivered a workshop for national authorities (%d)","start":%q,"end":%q,"organizers":[{"entity":%q},{"org":"Regional partner","kind":"regional"}],"countries":[%q],"participants":%d,"format":"workshop"}`, ent, h.n, date, end, ent, state, 10+r.IntN(200))
	case k < 45:
		typ, ent = "compact.visit.conducted", "CTED"
		data = fmt.Sprintf(`{"title":"CTED conducted an assessment visit (%d)","start":%q,"end":%q,"organizers":[{"entity":"CTED"}],"countries":[%q],"purpose":"assessment"}`, h.n, date, end, state)
	case k < 50:
		typ = "compact.publication.released"
		data = fmt.Sprintf(`{"title":"%s published a report (%d)","start":%q,"organizers":[{"entity":%q}],"kind":"report"}`, ent, h.n, date, ent)
	case k < 70:
		typ, ent = "compact.focal_point.registered", "SECRETARIAT"
		data = fmt.Sprintf(`{"focal_point":"fp-%09d","represents":{"state":%q},"date":%q}`, h.n, state, date)
	case k < 90:
		typ, ent = "compact.document.shared", "SECRETARIAT"
		data = fmt.Sprintf(`{"document":"doc-%09d","title":"Shared document %d","shared_by":{"entity":%q},"date":%q}`, h.n, h.n, histEntities[r.IntN(len(histEntities))], date)
	case k < 95:
		typ, ent = "compact.platform.visits.counted", "SECRETARIAT"
		data = fmt.Sprintf(`{"from":%q,"to":%q,"count":%d}`, date, date, r.IntN(500))
	default:
		typ, ent = "compact.recommendations.issued", "CTED"
		data = fmt.Sprintf(`{"country":%q,"count":%d,"date":%q}`, state, 1+r.IntN(10), date)
	}
	return ent, fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/entities/%s","type":%q,"time":"%sT09:00:00Z","data":%s}`, id, ent, typ, date, data)
}
