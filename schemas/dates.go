package schemas

import "time"

// checkSpan reports a span whose last date comes before its first. Either date missing or not a
// real date is left to the schema, which reports it at its own field.
func checkSpan(obj map[string]any, s span) (FieldError, bool) {
	first, ok1 := obj[s.first].(string)
	last, ok2 := obj[s.last].(string)
	if !ok1 || !ok2 || !isDate(first) || !isDate(last) {
		return FieldError{}, false
	}
	// Both are YYYY-MM-DD, so the string order is the calendar order.
	if last < first {
		return FieldError{Field: "/" + s.last, Message: s.message}, true
	}
	return FieldError{}, false
}

// isDate reports whether s is a real calendar date written YYYY-MM-DD, the rule of "format":
// "date" as the compiler asserts it.
func isDate(s string) bool {
	if len(s) != len(time.DateOnly) {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}
