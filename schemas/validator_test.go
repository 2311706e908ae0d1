package schemas

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestValidateUnknownType(t *testing.T) {
	err := Default().Validate("compact.meeting.cancelled", []byte(`{}`))
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("got %v, want an error wrapping ErrUnknownType", err)
	}
	if !strings.Contains(err.Error(), `"compact.meeting.cancelled"`) {
		t.Errorf("error %q does not name the type", err)
	}
	var verr *ValidationError
	if errors.As(err, &verr) {
		t.Error("an unknown type is not a problem of the data")
	}
}

func TestValidateNotAnObject(t *testing.T) {
	for _, tc := range []struct{ data, msg string }{
		{``, "required"},
		{`  `, "required"},
		{`null`, "must be an object"},
		{`[]`, "must be an object"},
		{`"meeting"`, "must be an object"},
		{`{"title":`, "not valid JSON"},
		{`{} {}`, "not valid JSON"},
	} {
		got := problems(t, "compact.meeting.held", []byte(tc.data))
		if len(got) != 1 || got[0].Field != "" || !strings.Contains(got[0].Message, tc.msg) {
			t.Errorf("data %q: got %v, want one problem at the object containing %q", tc.data, got, tc.msg)
		}
	}
}

func TestValidationErrorOrderAndText(t *testing.T) {
	data := []byte(`{
		"title": "` + strings.Repeat("é", 501) + `",
		"start": "2025-06-05",
		"organizers": [{"entity": "UNODC", "colour": "blue"}, {"org": "OSCE"}],
		"countries": ["MAR", "MAR"],
		"format": "seminar",
		"participants": 3.5,
		"colour": "blue"
	}`)
	err := Default().Validate("compact.meeting.held", data)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v", err)
	}
	want := []FieldError{
		{"/organizers/0/colour", "unknown field"},
		{"/organizers/1/kind", "required with org"},
		{"/countries/1", "repeats item 0"},
		{"/colour", "unknown field"},
		{"/participants", "must be an integer"},
		{"/title", "longer than 500 characters"},
	}
	if len(verr.Problems) != len(want) {
		t.Fatalf("got %v\nwant %v", verr.Problems, want)
	}
	for i := range want {
		if verr.Problems[i] != want[i] {
			t.Fatalf("problem %d: got %v, want %v\nall: %v", i, verr.Problems[i], want[i], verr.Problems)
		}
	}
	wantText := "/organizers/0/colour: unknown field; /organizers/1/kind: required with org; /countries/1: repeats item 0; " +
		"/colour: unknown field; /participants: must be an integer; /title: longer than 500 characters"
	if verr.Error() != wantText {
		t.Errorf("Error() = %q\nwant      %q", verr.Error(), wantText)
	}
	if verr.Type != "compact.meeting.held" {
		t.Errorf("Type = %q", verr.Type)
	}
}

// Title length is counted in characters, not bytes: 500 accented letters is a valid title.
func TestTitleCountsCharacters(t *testing.T) {
	if got := problems(t, "compact.meeting.held", meeting(`"start":"2025-06-05","title":"`+strings.Repeat("é", 500)+`"`)); got != nil {
		t.Errorf("500-character title rejected: %v", got)
	}
}

func TestFieldPointersAreEscaped(t *testing.T) {
	got := problems(t, "compact.meeting.held", meeting(`"start":"2025-06-05","a/b~c":1`))
	if len(got) != 1 || got[0].Field != "/a~1b~0c" {
		t.Errorf("got %v, want the field /a~1b~0c", got)
	}
}

func TestActors(t *testing.T) {
	for _, tc := range []struct {
		actor string
		want  FieldError // zero: valid
	}{
		{`{"entity":"UNODC"}`, FieldError{}},
		{`{"state":"MAR"}`, FieldError{}},
		{`{"org":"OSCE Parliamentary Assembly","kind":"regional"}`, FieldError{}},
		{`{"org":"Hedayah","kind":"international"}`, FieldError{}},
		{`{}`, FieldError{"/organizers/0", `must be exactly one of {"entity"}, {"state"} or {"org", "kind"}`}},
		{`{"entity":"UNODC","state":"MAR"}`, FieldError{"/organizers/0", `must be exactly one of {"entity"}, {"state"} or {"org", "kind"}`}},
		{`{"state":"MAR","kind":"regional"}`, FieldError{"/organizers/0", `must be exactly one of {"entity"}, {"state"} or {"org", "kind"}`}},
		{`{"kind":"regional"}`, FieldError{"/organizers/0", `must be exactly one of {"entity"}, {"state"} or {"org", "kind"}`}},
		{`{"org":"OSCE"}`, FieldError{"/organizers/0/kind", "required with org"}},
		{`{"org":"OSCE","kind":"ngo"}`, FieldError{"/organizers/0/kind", "must be one of international, regional, civil_society, academia, private_sector, government"}},
		{`{"org":"","kind":"regional"}`, FieldError{"/organizers/0/org", blankWords}},
		{`{"entity":"unodc"}`, FieldError{"/organizers/0/entity", "not an entity acronym (2-24 of A-Z, 0-9, -)"}},
		{`{"entity":"U"}`, FieldError{"/organizers/0/entity", "not an entity acronym (2-24 of A-Z, 0-9, -)"}},
		{`{"state":"Morocco"}`, FieldError{"/organizers/0/state", overrides["defs.json#/$defs/member_state/enum"]}},
		{`{"person":"Jane"}`, FieldError{"/organizers/0/person", "unknown field"}},
		{`"UNODC"`, FieldError{"/organizers/0", "must be an object"}},
	} {
		got := problems(t, "compact.meeting.held", meeting(`"start":"2025-06-05","organizers":[`+tc.actor+`]`))
		if tc.want == (FieldError{}) {
			if got != nil {
				t.Errorf("%s: rejected: %v", tc.actor, got)
			}
			continue
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: got %v, want exactly [%v]", tc.actor, got, tc.want)
		}
	}
}

func TestDefaultIsOneValidator(t *testing.T) {
	if a, b := Default(), Default(); a != b {
		t.Error("Default compiled the schemas twice")
	}
}

// Run with -race: the ingest path validates from many goroutines at once.
func TestValidateConcurrently(t *testing.T) {
	examples, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	v := Default()
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(examples))
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for _, ex := range examples {
				env := decodeEnvelope(t, ex)
				if err := v.Validate(env.Type, env.Data); (err == nil) != ex.Valid {
					errs <- ex.Name + ": " + errString(err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func errString(err error) string {
	if err == nil {
		return "accepted"
	}
	return err.Error()
}

// ValidateValue gives Validate's verdict and words whether the data's objects come as Objects,
// as maps, or mixed, on every example.
func TestValidateValueObjects(t *testing.T) {
	exs, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	v := Default()
	for _, ex := range exs {
		env := decodeEnvelope(t, ex)
		if len(env.Data) == 0 {
			continue
		}
		want := errText(v.Validate(env.Type, env.Data))
		maps, err := jsonschema.UnmarshalJSON(bytes.NewReader(env.Data))
		if err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		objects := toObjects(maps)
		mixed := maps
		if o, ok := objects.(Object); ok {
			mixed = append(Object(nil), o...) // the top an Object, the members' objects maps
			for i := range o {
				mixed.(Object)[i].Value = toMaps(o[i].Value)
			}
		}
		for name, doc := range map[string]any{"maps": maps, "objects": objects, "mixed": mixed} {
			if got := errText(v.ValidateValue(env.Type, doc)); got != want {
				t.Errorf("%s, %s: ValidateValue says %q, Validate %q", ex.Name, name, got, want)
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
