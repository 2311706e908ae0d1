package schemas

import (
	"reflect"
	"testing"
)

// A link's url is an http(s) URL with a host: one without (http:///x, https://?q) is malformed,
// though net/url parses it as absolute and the "uri" format lets it through; so is one whose
// port is not a number, or that carries user information (credentials have no place in a
// public review's links).
func TestLinkURLs(t *testing.T) {
	bad := []FieldError{{"/links/0/url", overrides["defs.json#/$defs/url/pattern"]}}
	for _, c := range []struct {
		url  string
		want []FieldError
	}{
		{"https://www.un.org/counterterrorism/annual-report-2024", nil},
		{"http://a", nil},
		{"https://a/", nil},
		{"https://a:8443/x?y=1#z", nil},
		{"https://a?q=1", nil},
		{"https://a#top", nil},
		{"https://[2001:db8::1]/x", nil},
		{"https://medium.com/@unoct/post", nil},
		{"https://exämple.org/x", nil},
		{"http:///x", bad},
		{"https://", bad},
		{"https://?q", bad},
		{"https://#x", bad},
		{"https://:80/x", bad},
		{"https://a:/x", bad},
		{"https://a:http/x", bad},
		{"https://@a/x", bad},
		{"https://user:pass@a/x", bad},
		{"https://[zz]/x", bad},
		{"https://a b/x", bad},
		// White space is Unicode's, as ECMA-262 validators read the pattern's \s.
		{`https://a\u00a0b.example/x`, bad},
		{`https://a.example/x\u00a0y`, bad},
		{`https://a.example/x\u2028`, bad},
		{`https://a.example/\u3000`, bad},
		{"www.un.org/x", bad},
	} {
		data := meeting(`"start":"2025-06-05","links":[{"url":"` + c.url + `"}]`)
		if got := problems(t, "compact.meeting.held", data); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.url, got, c.want)
		}
		sameVerdict(t, "compact.meeting.held", data)
	}
}
