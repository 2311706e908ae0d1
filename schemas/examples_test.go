package schemas

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// envelope is the CloudEvent around an example's data, decoded strictly enough to check it.
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	DataContentType *string         `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

func decodeEnvelope(t *testing.T, ex Example) envelope {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(ex.Event, &members); err != nil {
		t.Fatalf("%s: not a JSON object: %v", ex.Name, err)
	}
	allowed := map[string]bool{"specversion": true, "id": true, "source": true, "type": true, "time": true, "datacontenttype": true, "data": true}
	for k := range members {
		if !allowed[k] {
			t.Errorf("%s: envelope member %q is not a CloudEvent attribute of the contract", ex.Name, k)
		}
	}
	var env envelope
	if err := json.Unmarshal(ex.Event, &env); err != nil {
		t.Fatalf("%s: %v", ex.Name, err)
	}
	return env
}

func TestExamples(t *testing.T) {
	examples, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	v := Default()
	for _, ex := range examples {
		t.Run(ex.Name, func(t *testing.T) {
			env := decodeEnvelope(t, ex)
			err := v.Validate(env.Type, env.Data)
			if ex.Valid {
				if err != nil {
					t.Fatalf("valid example rejected: %v", err)
				}
				return
			}
			// Every invalid example is about data; the envelope is the ledger's to test.
			field, ok := strings.CutPrefix(ex.Field, "/data")
			if !ok || (field != "" && !strings.HasPrefix(field, "/")) {
				t.Fatalf("x-expect-field %q is not under /data", ex.Field)
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("want a *ValidationError, got %v", err)
			}
			if verr.Type != env.Type {
				t.Errorf("ValidationError.Type = %q, want %q", verr.Type, env.Type)
			}
			// Each invalid example has exactly one thing wrong, so exactly one problem must be
			// reported: more would be noise a publisher has to read past.
			if len(verr.Problems) != 1 {
				t.Fatalf("want exactly 1 problem, got %d: %v", len(verr.Problems), verr)
			}
			got := verr.Problems[0]
			if got.Field != field || !strings.Contains(got.Message, ex.Message) {
				t.Fatalf("got %q, want field %q with a message containing %q", got.String(), field, ex.Message)
			}
		})
	}
}

func TestExamplesCoverEveryType(t *testing.T) {
	examples, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	valid, invalid := map[string]int{}, map[string]int{}
	for _, ex := range examples {
		env := decodeEnvelope(t, ex)
		if ex.Valid {
			valid[env.Type]++
		} else {
			invalid[env.Type]++
		}
	}
	for _, typ := range Types() {
		if valid[typ] == 0 {
			t.Errorf("%s has no valid example in examples/valid", typ)
		}
		if invalid[typ] == 0 {
			t.Errorf("%s has no invalid example in examples/invalid", typ)
		}
	}
}

// The ledger's tests publish these examples as they are, so their envelopes must follow the
// contract exactly (DESIGN.md, "Event envelope").
func TestExamplesEnvelope(t *testing.T) {
	examples, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	idRE := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	sourceRE := regexp.MustCompile(`^/entities/[A-Z0-9-]{2,24}$`)
	ids := map[string]string{}
	for _, ex := range examples {
		env := decodeEnvelope(t, ex)
		if env.SpecVersion != "1.0" {
			t.Errorf("%s: specversion %q", ex.Name, env.SpecVersion)
		}
		if !idRE.MatchString(env.ID) {
			t.Errorf("%s: id %q", ex.Name, env.ID)
		}
		if !sourceRE.MatchString(env.Source) {
			t.Errorf("%s: source %q", ex.Name, env.Source)
		}
		if !Known(env.Type) {
			t.Errorf("%s: type %q", ex.Name, env.Type)
		}
		if _, err := time.Parse(time.RFC3339Nano, env.Time); err != nil {
			t.Errorf("%s: time %q: %v", ex.Name, env.Time, err)
		}
		if env.DataContentType != nil && *env.DataContentType != "application/json" {
			t.Errorf("%s: datacontenttype %q", ex.Name, *env.DataContentType)
		}
		if len(env.Data) == 0 {
			t.Errorf("%s: no data", ex.Name)
		}
		// Unique source+id, so that the ledger's tests can publish them all without one
		// being taken for a duplicate of another.
		key := env.Source + " " + env.ID
		if other, dup := ids[key]; dup {
			t.Errorf("%s: same source and id as %s", ex.Name, other)
		}
		ids[key] = ex.Name
		if strings.Contains(string(ex.Event), "x-expect") {
			t.Errorf("%s: Event still carries the x-expect members", ex.Name)
		}
	}
}

func TestParseExampleRejectsUnlabelled(t *testing.T) {
	event := `{"specversion":"1.0","id":"a","source":"/entities/UNODC","type":"compact.meeting.held","time":"2025-06-01T00:00:00Z","data":{}}`
	if _, err := parseExample("invalid/x.json", false, []byte(event)); err == nil {
		t.Error("an invalid example without x-expect members was accepted")
	}
	labelled := strings.TrimSuffix(event, "}") + `,"x-expect-field":"/data/title","x-expect-message":"required"}`
	if _, err := parseExample("valid/x.json", true, []byte(labelled)); err == nil {
		t.Error("a valid example with x-expect members was accepted")
	}
	ex, err := parseExample("invalid/x.json", false, []byte(labelled))
	if err != nil {
		t.Fatal(err)
	}
	if string(ex.Event) != event || ex.Field != "/data/title" || ex.Message != "required" {
		t.Errorf("got %+v", ex)
	}
}
