package projections

import (
	"maps"
	"slices"
	"sync"
)

// reviewCache keeps the parts of the reviews read lately, each under the state of the view it
// came from. A key never names two different answers: a period's version changes with every
// change of its listing, a checkpoint with every committed batch, and a rebuilt view has a new
// generation. So the cache is never invalidated, only bounded.
//
// What it holds is shared by every caller: Review hands out copies (cloneSections,
// cloneStructure), so a caller may change the Review it got.
type reviewCache struct {
	mu      sync.Mutex
	secs    map[sectionsKey]sectionsVal
	hists   map[historyKey][]Counters
	structs map[structureKey]*Structure
}

type sectionsKey struct {
	gen     uint64
	period  string
	version uint64
}

type sectionsVal struct {
	sections []Section
	version  uint64
	firstSeq uint64
}

type historyKey struct {
	gen, ck uint64
	period  string
}

type structureKey struct {
	gen, ck uint64
	asOf    string
}

// reviewCacheMax bounds each map: past it, the map starts again empty. The readers of reviews
// ask for a few periods, so it is rarely reached.
const reviewCacheMax = 64

func (c *reviewCache) sections(k sectionsKey) (sectionsVal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.secs[k]
	return v, ok
}

func (c *reviewCache) putSections(k sectionsKey, v sectionsVal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secs == nil || len(c.secs) >= reviewCacheMax {
		c.secs = map[sectionsKey]sectionsVal{}
	}
	c.secs[k] = v
}

func (c *reviewCache) history(k historyKey) ([]Counters, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.hists[k]
	return v, ok
}

func (c *reviewCache) putHistory(k historyKey, v []Counters) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hists == nil || len(c.hists) >= reviewCacheMax {
		c.hists = map[historyKey][]Counters{}
	}
	c.hists[k] = v
}

func (c *reviewCache) structure(k structureKey) (*Structure, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.structs[k]
	return v, ok
}

func (c *reviewCache) putStructure(k structureKey, v *Structure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.structs == nil || len(c.structs) >= reviewCacheMax {
		c.structs = map[structureKey]*Structure{}
	}
	c.structs[k] = v
}

// cloneSections copies sections down to the slices of each item.
func cloneSections(in []Section) []Section {
	out := slices.Clone(in)
	for i := range out {
		out[i].Items = slices.Clone(in[i].Items)
		for j := range out[i].Items {
			it := &out[i].Items[j]
			it.Organizers, it.Countries, it.Links = slices.Clone(it.Organizers), slices.Clone(it.Countries), slices.Clone(it.Links)
		}
	}
	return out
}

func cloneUnit(u Unit) Unit {
	u.CoChairs, u.ViceChairs = slices.Clone(u.CoChairs), slices.Clone(u.ViceChairs)
	return u
}

func cloneStructure(in *Structure) *Structure {
	if in == nil {
		return nil
	}
	out := *in
	out.WorkingGroups = make([]Unit, len(in.WorkingGroups))
	for i, u := range in.WorkingGroups {
		out.WorkingGroups[i] = cloneUnit(u)
	}
	if in.CoordinationCommittee != nil {
		u := cloneUnit(*in.CoordinationCommittee)
		out.CoordinationCommittee = &u
	}
	if in.Secretariat != nil {
		u := cloneUnit(*in.Secretariat)
		out.Secretariat = &u
	}
	out.ShortNames = maps.Clone(in.ShortNames)
	return &out
}
