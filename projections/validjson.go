package projections

// validValueEnd checks the JSON value at b[i] as it skips it, and returns the index after it:
// the envelope's fast path reads the data once instead of finding its end and then running
// encoding/json.Valid over it. It accepts exactly what json.Valid accepts of b[i:end] (as
// encoding/json's scanner does: bytes in strings are not checked as UTF-8, nesting stops at
// jsonMaxDepth), so what is taken and what is quarantined does not depend on the path.
func validValueEnd(b []byte, i int) (int, bool) {
	// open holds one bit per open container, set for an object: the next token after a value
	// depends on whether it is a member's or an element's.
	var open [jsonMaxDepth/64 + 1]uint64
	depth := 0
	ok := false
	for {
		// a value at b[i]
		if i >= len(b) {
			return 0, false
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth == jsonMaxDepth {
				return 0, false
			}
			obj := c == '{'
			if obj {
				open[depth/64] |= 1 << (depth % 64)
			} else {
				open[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && (obj && b[i] == '}' || !obj && b[i] == ']') {
				i++
				depth--
				break
			}
			if obj {
				if i, ok = validMemberName(b, i); !ok {
					return 0, false
				}
			}
			continue
		case '"':
			if i, ok = validStringEnd(b, i); !ok {
				return 0, false
			}
		case 't':
			if i, ok = literalEnd(b, i, "true"); !ok {
				return 0, false
			}
		case 'f':
			if i, ok = literalEnd(b, i, "false"); !ok {
				return 0, false
			}
		case 'n':
			if i, ok = literalEnd(b, i, "null"); !ok {
				return 0, false
			}
		default:
			if i, ok = validNumberEnd(b, i); !ok {
				return 0, false
			}
		}
		// after a value: close containers until one goes on with a ',' (or the outer value ends)
		for {
			if depth == 0 {
				return i, true
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, false
			}
			obj := open[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if obj {
					if i, ok = validMemberName(b, i); !ok {
						return 0, false
					}
				}
				break
			}
			if obj && b[i] == '}' || !obj && b[i] == ']' {
				i++
				depth--
				continue
			}
			return 0, false
		}
	}
}

// jsonMaxDepth is encoding/json's limit on nesting (its scanner's maxNestingDepth).
const jsonMaxDepth = 10000

// validMemberName reads `"name" :` at b[i] and returns the index of the value that follows.
func validMemberName(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	i, ok := validStringEnd(b, i)
	if !ok {
		return 0, false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return skipSpace(b, i+1), true
}

// validStringEnd returns the index after the string at b[i] (its opening quote).
func validStringEnd(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		c := b[i]
		if !jsonStringSpecial[c] {
			continue
		}
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return 0, false
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false
					}
				}
				i += 4
			default:
				return 0, false
			}
		default: // a control character
			return 0, false
		}
	}
	return 0, false
}

// jsonStringSpecial marks the bytes a string's contents cannot simply pass: the quote, the
// backslash and the control characters.
var jsonStringSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// literalEnd returns the index after lit at b[i].
func literalEnd(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// validNumberEnd returns the index after the number at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumberEnd(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digitsEnd(b, i+1)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func digitsEnd(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
