package demo

import (
	"encoding/json"
	"slices"
	"testing"
)

// seedNumbers is "Counter-Terrorism Compact in numbers" of the May-June 2025 review
// (seed/000_b6121b9379eac46a.txt): the dataset exists to reproduce it.
var seedNumbers = counters{
	"entities": 46, "member_states": 137, "organizations": 14, "focal_points": 1050,
	"documents_shared": 3670, "virtual_visits": 407000, "ta_recommendations": 861, "country_assessments": 28,
}

var counterNames = []string{
	"entities", "member_states", "organizations", "focal_points",
	"documents_shared", "virtual_visits", "ta_recommendations", "country_assessments",
}

// historyDates are the last days of the six review periods up to May-June 2025, which the
// review's charts show.
var historyDates = []string{"2024-08-31", "2024-10-31", "2024-12-31", "2025-02-28", "2025-04-30", "2025-06-30"}

type counters map[string]int64

type actor struct {
	Entity string `json:"entity"`
	State  string `json:"state"`
	Org    string `json:"org"`
	Kind   string `json:"kind"`
}

// data holds every member of every data shape the fold reads.
type data struct {
	Entity     string  `json:"entity"`
	Status     string  `json:"status"`
	Date       string  `json:"date"`
	FocalPoint string  `json:"focal_point"`
	Represents actor   `json:"represents"`
	To         string  `json:"to"`
	Count      int64   `json:"count"`
	Counter    string  `json:"counter"`
	Value      int64   `json:"value"`
	Start      string  `json:"start"`
	Purpose    string  `json:"purpose"`
	Organizers []actor `json:"organizers"`
}

// fold computes the eight counters as of asOf (activity time) by the contract's rules, in
// memory and independently of the projections package.
func fold(t *testing.T, evs []envelope, asOf string) counters {
	t.Helper()
	c := counters{}
	members := map[string]bool{}
	active := map[string]actor{}
	var removed []string
	for _, e := range evs {
		if e.Type == "compact.event.corrected" || e.Type == "compact.event.retracted" {
			t.Fatalf("%s %s: the demo fold does not apply corrections; extend it first", e.Source, e.ID)
		}
		var d data
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("%s %s: %v", e.Source, e.ID, err)
		}
		switch e.Type {
		case "compact.entity.joined":
			if d.Date <= asOf && d.Status == "member" {
				members[d.Entity] = true
			}
		case "compact.entity.left":
			if d.Date <= asOf && d.Status == "member" {
				delete(members, d.Entity)
			}
		case "compact.focal_point.registered":
			if d.Date <= asOf {
				active[d.FocalPoint] = d.Represents
			}
		case "compact.focal_point.removed":
			if d.Date <= asOf {
				removed = append(removed, d.FocalPoint)
			}
		case "compact.document.shared":
			if d.Date <= asOf {
				c["documents_shared"]++
			}
		case "compact.platform.visits.counted":
			if d.To <= asOf {
				c["virtual_visits"] += d.Count
			}
		case "compact.recommendations.issued":
			if d.Date <= asOf {
				c["ta_recommendations"] += d.Count
			}
		case "compact.visit.conducted":
			cted := slices.Contains(d.Organizers, actor{Entity: "CTED"})
			if d.Start <= asOf && cted && (d.Purpose == "assessment" || d.Purpose == "follow_up_assessment") {
				c["country_assessments"]++
			}
		case "compact.counter.opened":
			if d.Date <= asOf {
				c[d.Counter] += d.Value
			}
		}
	}
	for _, fp := range removed {
		if _, ok := active[fp]; !ok {
			t.Fatalf("focal point %s is removed as of %s but was never registered by then", fp, asOf)
		}
		delete(active, fp)
	}
	c["entities"] += int64(len(members))
	c["focal_points"] += int64(len(active))
	states, orgs := map[string]bool{}, map[string]bool{}
	for _, a := range active {
		switch {
		case a.State != "":
			states[a.State] = true
		case a.Org != "" && (a.Kind == "international" || a.Kind == "regional"):
			orgs[a.Org] = true
		}
	}
	c["member_states"] += int64(len(states))
	c["organizations"] += int64(len(orgs))
	return c
}

// TestFoldGivesTheSeedsNumbers folds the dataset as of 30 June 2025 and compares with the seed.
func TestFoldGivesTheSeedsNumbers(t *testing.T) {
	got := fold(t, loadEvents(t), "2025-06-30")
	for _, name := range counterNames {
		if got[name] != seedNumbers[name] {
			t.Errorf("%s as of 2025-06-30 = %d, the seed says %d", name, got[name], seedNumbers[name])
		}
	}
}

// TestCountersHaveAHistory checks that the six periods the review charts tell a plausible story:
// no counter goes down, and every counter moved over the year.
func TestCountersHaveAHistory(t *testing.T) {
	evs := loadEvents(t)
	var series []counters
	for _, d := range historyDates {
		series = append(series, fold(t, evs, d))
	}
	for _, name := range counterNames {
		var values []int64
		for _, c := range series {
			values = append(values, c[name])
		}
		for i := 1; i < len(values); i++ {
			if values[i] < values[i-1] {
				t.Errorf("%s falls from %d (%s) to %d (%s)", name, values[i-1], historyDates[i-1], values[i], historyDates[i])
			}
		}
		if values[0] == values[len(values)-1] {
			t.Errorf("%s is flat over the six periods (%v): the chart would show nothing", name, values)
		}
		t.Logf("%-20s %v", name, values)
	}
	// Before the ledger's window only the opening balances and the older events count: the
	// balances must not be negative or exceed the total (a generator bug would show here).
	before := fold(t, evs, "2024-06-30")
	for _, name := range counterNames {
		if before[name] < 0 || before[name] > seedNumbers[name] {
			t.Errorf("%s as of 2024-06-30 = %d, outside [0, %d]", name, before[name], seedNumbers[name])
		}
	}
}
