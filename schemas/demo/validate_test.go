package demo

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"compact/schemas"
)

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	sourcePattern = regexp.MustCompile(`^/entities/([A-Z0-9-]{2,24})$`)
)

// envelope is a CloudEvent with its data kept raw.
type envelope struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Time        string          `json:"time"`
	Data        json.RawMessage `json:"data"`
}

func loadEvents(t *testing.T) []envelope {
	t.Helper()
	raws, err := Events()
	if err != nil {
		t.Fatal(err)
	}
	if len(raws) == 0 {
		t.Fatal("Events returned nothing")
	}
	out := make([]envelope, len(raws))
	for i, raw := range raws {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		for k := range members {
			if !slices.Contains([]string{"specversion", "id", "source", "type", "time", "data"}, k) {
				t.Errorf("event %d has attribute %q, which the demo does not use", i, k)
			}
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	return out
}

// TestEveryEventIsValid checks each event's envelope against the contract and its data against
// the type's schema, and that ids are unique per source.
func TestEveryEventIsValid(t *testing.T) {
	v := schemas.Default()
	seen := map[string]bool{}
	for i, e := range loadEvents(t) {
		where := e.Source + " " + e.ID
		if e.SpecVersion != "1.0" {
			t.Errorf("%s (event %d): specversion %q", where, i, e.SpecVersion)
		}
		if !idPattern.MatchString(e.ID) {
			t.Errorf("%s (event %d): id does not match %s", where, i, idPattern)
		}
		if !sourcePattern.MatchString(e.Source) {
			t.Errorf("event %d: source %q does not match %s", i, e.Source, sourcePattern)
		}
		if _, err := time.Parse(time.RFC3339, e.Time); err != nil {
			t.Errorf("%s: time: %v", where, err)
		}
		if err := v.Validate(e.Type, e.Data); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		key := e.Source + "\x00" + e.ID
		if seen[key] {
			t.Errorf("%s: id used twice by the same source", where)
		}
		seen[key] = true
	}
}

// TestEntitiesArePublishers checks entities.json against the events: every publisher has
// credentials, nobody else does, and only SECRETARIAT is the secretariat.
func TestEntitiesArePublishers(t *testing.T) {
	ents, err := Entities()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]Entity{}
	for _, e := range ents {
		if !regexp.MustCompile(`^[A-Z0-9-]{2,24}$`).MatchString(e.Entity) || e.Name == "" {
			t.Errorf("entities.json: bad entry %+v", e)
		}
		want := "publisher"
		if e.Entity == "SECRETARIAT" {
			want = "secretariat"
		}
		if e.Role != want {
			t.Errorf("entities.json: %s has role %q, want %q", e.Entity, e.Role, want)
		}
		listed[e.Entity] = e
	}
	publishing := map[string]bool{}
	for _, e := range loadEvents(t) {
		acr := strings.TrimPrefix(e.Source, "/entities/")
		publishing[acr] = true
		if _, ok := listed[acr]; !ok {
			t.Errorf("%s publishes %s but has no entry in entities.json", acr, e.ID)
		}
	}
	for acr := range listed {
		if !publishing[acr] {
			t.Errorf("entities.json lists %s, which publishes nothing", acr)
		}
	}
	// Only the Secretariat may publish opening balances (DESIGN.md).
	for _, e := range loadEvents(t) {
		if e.Type == "compact.counter.opened" && e.Source != "/entities/SECRETARIAT" {
			t.Errorf("%s %s: counter.opened is Secretariat only", e.Source, e.ID)
		}
	}
}
