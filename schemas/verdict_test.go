package schemas

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Every type has a quick verdict, and it decides every valid example: otherwise the ingest
// path quietly pays the library's price for what the contract calls ordinary.
func TestQuickVerdictCovers(t *testing.T) {
	docs, err := loadDocs()
	if err != nil {
		t.Fatal(err)
	}
	flatten(docs)
	setEnums(docs)
	for _, typ := range Types() {
		if _, err := compileQuick(docs, typ+".json"); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	exs, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range exs {
		env := decodeEnvelope(t, ex)
		q := Default().quick[env.Type]
		if q == nil {
			continue // reported above
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(env.Data))
		if err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		got := q.verdict(toObjects(doc))
		if ex.Valid && got != validV {
			t.Errorf("%s: a valid example is not decided quickly (verdict %d)", ex.Name, got)
		}
		if got == validV {
			if err := reference().schemas[env.Type].Validate(doc); err != nil {
				t.Errorf("%s: judged valid quickly, but the library says %v", ex.Name, err)
			}
		}
	}
}

// FuzzPlainHTTPURL: what the quick verdict takes for a plain URL, net/url parses as the
// library's "uri" format wants it (absolute, no IPv6 host); the seeds are the near misses.
func FuzzPlainHTTPURL(f *testing.F) {
	for _, s := range []string{
		"https://www.un.org/counterterrorism/annual-report-2024", "http://a", "https://a/", "https://", "https:///x",
		"https://a:80/x", "https://[::1]/x", "https://u@a/x", "https://a/x?y=1", "https://a/x#f", "https://a/%zz",
		"https://a b/x", "HTTPS://a/x", "https://a/x y", "https://-/x", "https://a..b/~x_y.z", "ftp://a/x", "https:/a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainHTTPURL(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil || !u.IsAbs() || strings.Contains(u.Hostname(), ":") {
			t.Fatalf("plainHTTPURL(%q) but url.Parse: %v, %+v", s, err, u)
		}
	})
}

func TestFewUniqueStrings(t *testing.T) {
	for _, c := range []struct {
		arr  []any
		want verdict
		ok   bool
	}{
		{[]any{"NG", "EG", "TD"}, validV, true},
		{[]any{"NG", "EG", "NG"}, invalidV, true},
		{[]any{"NG", json.Number("1")}, undecided, false},
	} {
		got, ok := fewUniqueStrings(c.arr)
		if got != c.want || ok != c.ok {
			t.Errorf("fewUniqueStrings(%v) = %v, %v; want %v, %v", c.arr, got, ok, c.want, c.ok)
		}
	}
}
