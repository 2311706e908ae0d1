package schemas

import (
	"regexp"
	"strings"
	"testing"
)

// patternProbes are strings around the edges of the contract's patterns.
var patternProbes = []string{
	"", "A", "AB", "UNODC", "UN-ODC", "unodc", "UNODC ", " UNODC", "UNODC\n", "ÄB", "A\u00c4",
	strings.Repeat("A", 24), strings.Repeat("A", 25), strings.Repeat("a", 64), strings.Repeat("a", 65),
	strings.Repeat("x", 128), strings.Repeat("x", 129), "a.b_c:d-e", "a/b", "a b", "a*b",
	"/entities/UNODC", "/entities/U", "/entities/unodc", "/entities/UNODC/", "/entities/", "entities/UNODC",
	"2025-05-05", "2025-5-05", "2025-05-5", "2025/05/05", "20250-05-05", "2025-05-05\n", "２０２５-05-05", "2025-05-0x",
	"2025-05", "2025-11", "2025-12", "2025-1", "2025-011", "2025-00", "99999-01", "2025-0１",
	"http://a", "https://a", "http://", "https://", "https:/a", "http://a b", "https://a\tb", "https://a\u00a0b",
	"https://a\u2028", "ftp://a", "HTTP://a", "https://a\n", "https://\xff", "httpss://a", "http://https://a",
	"https://example.org/x?y=1&z=<2>", "https://a\fb", "https://a\rb", "https://a\vb",
	"http:///x", "https://?q", "https://#x", "https://:80/x", "https://a:/x", "https://a:80", "https://a:123456/x",
	"https://a:8443/x?y=1#z", "https://@a/x", "https://u:p@a/x", "https://[::1]/x", "https://[::1]:80", "https://[::1]x",
	" ", "\t\n\f\r ", " x ", "\v", "\u00a0", "\x85", "\xff", "\u0085", "\u2003\u3000", "\ufeff", "\u200b", "\u00a0x",
	"https://[]/x", "https://[zz]/x", "https://[::1]]/x", "https://a]/x", "https://a?q=1", "https://a#t", "https://a/@b",
}

func TestPatternsMatchRegexp(t *testing.T) {
	if len(patternMatchers) != 8 {
		t.Errorf("%d loops; the contract has 8 patterns", len(patternMatchers))
	}
	for expr, match := range patternMatchers {
		re := regexp.MustCompile(expr)
		hits := 0
		for _, s := range patternProbes {
			if got, want := match(s), re.MatchString(s); got != want {
				t.Errorf("%s on %q: loop %v, regexp %v", expr, s, got, want)
			}
			if re.MatchString(s) {
				hits++
			}
		}
		if hits == 0 {
			t.Errorf("%s: no probe matches; the comparison proves little", expr)
		}
	}
}

// Every pattern of the schemas has its loop (a new pattern without one is only slower, but
// this says so), and compilePattern hands the others to regexp.
func TestEveryPatternHasALoop(t *testing.T) {
	for name, doc := range rawDocs(t) {
		walk("", doc, func(ptr string, obj map[string]any) {
			if p, ok := obj["pattern"].(string); ok {
				if _, ok := patternMatchers[p]; !ok {
					t.Errorf("%s#%s: pattern %s has no loop in patternMatchers", name, ptr, p)
				}
			}
		})
	}
	re, err := compilePattern(`^a+$`)
	if err != nil || re.String() != `^a+$` || !re.MatchString("aa") || re.MatchString("ab") {
		t.Errorf("compilePattern(^a+$) = %v, %v", re, err)
	}
	if _, err := compilePattern(`(`); err == nil {
		t.Error("compilePattern accepted a broken pattern")
	}
}

func FuzzPatterns(f *testing.F) {
	for _, s := range patternProbes {
		f.Add(s)
	}
	res := map[string]*regexp.Regexp{}
	for expr := range patternMatchers {
		res[expr] = regexp.MustCompile(expr)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for expr, match := range patternMatchers {
			if got, want := match(s), res[expr].MatchString(s); got != want {
				t.Fatalf("%s on %q: loop %v, regexp %v", expr, s, got, want)
			}
		}
	})
}
