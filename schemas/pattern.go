package schemas

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The validator's regexp engine: the contract's own "pattern"s are matched by plain loops,
// every other pattern by package regexp, as the library would.
//
// A pattern is checked on nearly every string of an event (entities, dates, links), and
// regexp's matcher costs more than the loop that says the same for these fixed shapes:
// about a tenth of the validation of a typical event. TestPatternsMatchRegexp and
// FuzzPatterns hold every loop to what regexp says of its pattern.

// patternMatchers are the loops, keyed by the pattern they stand for, exactly as the schema
// files write it.
var patternMatchers = map[string]func(string) bool{
	`^[A-Z0-9-]{2,24}$`:            func(s string) bool { return runOf(s, 2, 24, isUpperDigitDash) },
	`^/entities/[A-Z0-9-]{2,24}$`:  isEntitySource,
	`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`: isDateShape,
	`^[A-Za-z0-9._:-]{1,128}$`:     func(s string) bool { return runOf(s, 1, 128, isIDByte) },
	`^[a-z0-9-]{1,64}$`:            func(s string) bool { return runOf(s, 1, 64, isLowerDigitDash) },
	`^\d{4}-(01|03|05|07|09|11)$`:  isPeriod,
	notBlankPattern:                notBlank,
	urlPattern:                     isHTTPURL,
}

// compilePattern is the jsonschema.RegexpEngine of the validator. The pattern is compiled by
// regexp in any case, so that a broken one fails as it would without the loops.
func compilePattern(expr string) (jsonschema.Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	if m, ok := patternMatchers[expr]; ok {
		return loopPattern{expr: expr, match: m}, nil
	}
	return re, nil
}

// loopPattern is a pattern matched by a loop; String is the pattern, for the messages.
type loopPattern struct {
	expr  string
	match func(string) bool
}

func (p loopPattern) String() string            { return p.expr }
func (p loopPattern) MatchString(s string) bool { return p.match(s) }

// runOf reports whether s is min to max bytes, each one in the class. The classes are ASCII,
// so a byte is a character and a multi-byte character never matches.
func runOf(s string, min, max int, in func(byte) bool) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !in(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool          { return c >= '0' && c <= '9' }
func isUpperDigitDash(c byte) bool { return c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' }
func isLowerDigitDash(c byte) bool { return c >= 'a' && c <= 'z' || isDigit(c) || c == '-' }
func isIDByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || isDigit(c) || c == '.' || c == '_' || c == ':' || c == '-'
}

func isEntitySource(s string) bool {
	rest, ok := strings.CutPrefix(s, "/entities/")
	return ok && runOf(rest, 2, 24, isUpperDigitDash)
}

// isDateShape: YYYY-MM-DD in digits (the calendar is the "date" format's to check).
func isDateShape(s string) bool {
	return len(s) == 10 && runOf(s[:4], 4, 4, isDigit) && s[4] == '-' &&
		runOf(s[5:7], 2, 2, isDigit) && s[7] == '-' && runOf(s[8:], 2, 2, isDigit)
}

// isPeriod: YYYY-MM with an odd month (\d is ASCII digits only in Go's syntax).
func isPeriod(s string) bool {
	if len(s) != 7 || !runOf(s[:4], 4, 4, isDigit) || s[4] != '-' {
		return false
	}
	switch s[5:] {
	case "01", "03", "05", "07", "09", "11":
		return true
	}
	return false
}

// spaceClass is white space in a character class: Unicode's White_Space and U+FEFF. The
// patterns name it instead of writing \s: Go's regexp reads \s as ASCII white space and
// ECMA-262, the dialect of JSON Schema's patterns and of the publishers' own validators, as
// Unicode's, so a title of one no-break space passed here and failed there. The characters
// beyond ASCII stand in the pattern as themselves, which both dialects read alike (\u escapes
// they do not).
const spaceClass = "\\t\\n\\v\\f\\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"

// notBlankPattern is the pattern of a free-text value that must be there: one character that
// is not white space.
const notBlankPattern = "[^" + spaceClass + "]"

// urlPattern is a link's url: http(s), a host, an optional port, path, query and fragment,
// without white space or user@.
const urlPattern = `^https?://([^` + spaceClass + `/?#@\[\]:]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?#][^` + spaceClass + `]*)?$`

// isSpace reports white space as spaceClass names it.
func isSpace(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' }

// hasSpace reports whether s holds white space or one of the bytes of extra.
func hasSpace(s, extra string) bool {
	return strings.IndexFunc(s, isSpace) >= 0 || strings.ContainsAny(s, extra)
}

// notBlank: a character that is not white space (notBlankPattern, unanchored).
func notBlank(s string) bool {
	for _, r := range s {
		if !isSpace(r) {
			return true
		}
	}
	return false
}

// isHTTPURL: http:// or https://, a host (a run of anything but white space and / ? # @ [ ] :,
// or hex digits, colons and dots in brackets), an optional port of 1-5 digits, then nothing or
// a path, query or fragment without white space (urlPattern).
func isHTTPURL(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return false
		}
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	hostport, tail := rest[:end], rest[end:]
	if hasSpace(tail, "") {
		return false
	}
	if strings.HasPrefix(hostport, "[") {
		host, after, ok := strings.Cut(hostport[1:], "]")
		if !ok || !runOf(host, 1, len(host), isIPv6Byte) {
			return false
		}
		if after == "" {
			return true
		}
		port, ok := strings.CutPrefix(after, ":")
		return ok && runOf(port, 1, 5, isDigit)
	}
	host, port, hasPort := strings.Cut(hostport, ":")
	if host == "" || hasSpace(host, "@[]") {
		return false
	}
	return !hasPort || runOf(port, 1, 5, isDigit)
}

func isIPv6Byte(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
}
