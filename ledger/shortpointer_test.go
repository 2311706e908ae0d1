package ledger

import (
	"strings"
	"testing"
)

func TestShortPointer(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"/data/start", "/data/start"},
		{"/" + strings.Repeat("a", 64), "/" + strings.Repeat("a", 64)},
		{"/" + strings.Repeat("a", 65), "/" + strings.Repeat("a", 64) + "…"},
		{"/data/" + strings.Repeat("a", 70) + "/x", "/data/" + strings.Repeat("a", 64) + "…/x"},
		// never inside a character
		{"/" + strings.Repeat("a", 63) + "é" + strings.Repeat("b", 10), "/" + strings.Repeat("a", 63) + "…"},
		// never inside a ~0 or ~1 escape
		{"/" + strings.Repeat("a", 63) + "~1" + strings.Repeat("b", 10), "/" + strings.Repeat("a", 63) + "…"},
	} {
		if got := shortPointer(c.in); got != c.want {
			t.Errorf("shortPointer(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
