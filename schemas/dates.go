package schemas

// checkSpan reports a span whose last date comes before its first. Either date missing or not a
// real date is left to the schema, which reports it at its own field.
func checkSpan(obj Object, s span) (FieldError, bool) {
	fv, _ := obj.Get(s.first)
	lv, _ := obj.Get(s.last)
	first, ok1 := fv.(string)
	last, ok2 := lv.(string)
	if !ok1 || !ok2 || !isDate(first) || !isDate(last) {
		return FieldError{}, false
	}
	// Both are YYYY-MM-DD, so the string order is the calendar order.
	if last < first {
		return FieldError{Field: "/" + s.last, Message: s.message}, true
	}
	return FieldError{}, false
}

// isDate reports whether s is a real calendar date written YYYY-MM-DD: what
// time.Parse(time.DateOnly, s) accepts, the rule of "format": "date" as the compiler asserts
// it (TestIsDateIsTimeParse), without its cost on every date of every event.
func isDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	num := func(b string) (int, bool) {
		n := 0
		for i := 0; i < len(b); i++ {
			if b[i] < '0' || b[i] > '9' {
				return 0, false
			}
			n = n*10 + int(b[i]-'0')
		}
		return n, true
	}
	y, ok1 := num(s[:4])
	m, ok2 := num(s[5:7])
	d, ok3 := num(s[8:])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}
