package projections

import (
	"bytes"
	"encoding/json"
)

// Fast decoding of the data objects the views read most: an activity (review) and the data of
// a counting event (counters). encoding/json spends most of a build's decoding time on them.
// The fast path takes the plain form the ledger's publishers write: exact attribute names, each
// once, strings without escapes, numbers (kept raw, as in a json.RawMessage), arrays of such
// objects. On anything else it gives up and the caller decodes with encoding/json, so the result
// (and the error, if any) is always encoding/json's. Its input is valid JSON: data was checked
// when the envelope was decoded.

// jsonMembers calls fn with each member of the object raw; false from fn, or an object it
// cannot walk plainly (an escaped key), gives up.
func jsonMembers(raw []byte, fn func(key, val []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return skipSpace(raw, i+1) == len(raw)
	}
	for {
		key, next, ok := plainString(raw, i)
		if !ok {
			return false
		}
		i = skipSpace(raw, next)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = skipSpace(raw, i+1)
		end, ok := valueEnd(raw, i)
		if !ok || !fn(key, raw[i:end]) {
			return false
		}
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
			continue
		}
		if i < len(raw) && raw[i] == '}' {
			return skipSpace(raw, i+1) == len(raw)
		}
		return false
	}
}

// valueEnd returns the index after the JSON value at b[i].
func valueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '{', '[':
		return objectEnd(b, i)
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, true
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j, j > i
}

// jsonElements calls fn with each element of the array raw.
func jsonElements(raw []byte, fn func(val []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return true
	}
	for {
		end, ok := valueEnd(raw, i)
		if !ok || !fn(raw[i:end]) {
			return false
		}
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
			continue
		}
		return i < len(raw) && raw[i] == ']'
	}
}

var jsonNull = []byte("null")

// fastStr reads a plain string, or null (the field keeps its zero value).
func fastStr(val []byte, into *string) bool {
	if bytes.Equal(val, jsonNull) {
		return true
	}
	s, end, ok := plainString(val, 0)
	if !ok || end != len(val) {
		return false
	}
	*into = string(s)
	return true
}

// fastRaw takes a value as it stands, as encoding/json fills a json.RawMessage ("null"
// included); the caller reads it.
func fastRaw(val []byte, into *json.RawMessage) bool {
	*into = val
	return true
}

// known says whether key names one of names exactly; a key equal to one of them but for case
// (which encoding/json would take) makes the fast path give up.
type fieldSet struct {
	seen  uint32
	names []string
}

// take returns the index of key among names, -1 to ignore it, or ok false to give up (a
// repeated name, or one that differs from a name by case only).
func (fs *fieldSet) take(key []byte) (int, bool) {
	for i, n := range fs.names {
		if string(key) == n {
			if fs.seen&(1<<i) != 0 {
				return 0, false
			}
			fs.seen |= 1 << i
			return i, true
		}
	}
	for _, n := range fs.names {
		if bytes.EqualFold(key, []byte(n)) {
			return 0, false
		}
	}
	return -1, true
}

var actorFields = []string{"entity", "state", "org", "kind"}

func fastActor(val []byte, a *Actor) bool {
	fs := fieldSet{names: actorFields}
	return jsonMembers(val, func(key, v []byte) bool {
		i, ok := fs.take(key)
		if !ok {
			return false
		}
		switch i {
		case 0:
			return fastStr(v, &a.Entity)
		case 1:
			return fastStr(v, &a.State)
		case 2:
			return fastStr(v, &a.Org)
		case 3:
			return fastStr(v, &a.Kind)
		}
		return true
	})
}

func fastActors(val []byte, into *[]Actor) bool {
	if bytes.Equal(val, jsonNull) {
		*into = nil
		return true
	}
	out := []Actor{}
	ok := jsonElements(val, func(v []byte) bool {
		var a Actor
		if !fastActor(v, &a) {
			return false
		}
		out = append(out, a)
		return true
	})
	*into = out
	return ok
}

func fastStrs(val []byte, into *[]string) bool {
	if bytes.Equal(val, jsonNull) {
		*into = nil
		return true
	}
	out := []string{}
	ok := jsonElements(val, func(v []byte) bool {
		var s string
		if bytes.Equal(v, jsonNull) || !fastStr(v, &s) {
			return false
		}
		out = append(out, s)
		return true
	})
	*into = out
	return ok
}

var linkFields = []string{"url", "label"}

func fastLinks(val []byte, into *[]Link) bool {
	if bytes.Equal(val, jsonNull) {
		*into = nil
		return true
	}
	out := []Link{}
	ok := jsonElements(val, func(v []byte) bool {
		var l Link
		fs := fieldSet{names: linkFields}
		if !jsonMembers(v, func(key, lv []byte) bool {
			i, ok := fs.take(key)
			switch {
			case !ok:
				return false
			case i == 0:
				return fastStr(lv, &l.URL)
			case i == 1:
				return fastStr(lv, &l.Label)
			}
			return true
		}) {
			return false
		}
		out = append(out, l)
		return true
	})
	*into = out
	return ok
}

var activityFields = []string{"title", "start", "end", "date_precision", "organizers", "partners", "countries",
	"links", "section", "format", "speaker", "role", "quote", "summary"}

// fastActivity decodes an activity as json.Unmarshal into activity would, or says it cannot.
func fastActivity(raw []byte, a *activity) bool {
	fs := fieldSet{names: activityFields}
	return jsonMembers(raw, func(key, v []byte) bool {
		i, ok := fs.take(key)
		if !ok {
			return false
		}
		switch i {
		case 0:
			return fastStr(v, &a.Title)
		case 1:
			return fastStr(v, &a.Start)
		case 2:
			return fastStr(v, &a.End)
		case 3:
			return fastStr(v, &a.DatePrecision)
		case 4:
			return fastActors(v, &a.Organizers)
		case 5:
			return fastActors(v, &a.Partners)
		case 6:
			return fastStrs(v, &a.Countries)
		case 7:
			return fastLinks(v, &a.Links)
		case 8:
			return fastStr(v, &a.Section)
		case 9:
			return fastStr(v, &a.Format)
		case 10:
			return fastStr(v, &a.Speaker)
		case 11:
			return fastStr(v, &a.Role)
		case 12:
			return fastStr(v, &a.Quote)
		case 13:
			return fastStr(v, &a.Summary)
		}
		return true
	})
}

// countingData is the data of the events the counters read.
type countingData struct {
	Entity     string          `json:"entity"`
	Status     string          `json:"status"`
	Date       string          `json:"date"`
	FocalPoint string          `json:"focal_point"`
	Represents *Actor          `json:"represents"`
	From       string          `json:"from"`
	To         string          `json:"to"`
	Count      json.RawMessage `json:"count"` // an integer: jsonInt
	Purpose    string          `json:"purpose"`
	Start      string          `json:"start"`
	Organizers []Actor         `json:"organizers"`
	Counter    string          `json:"counter"`
	Value      json.RawMessage `json:"value"` // an integer: jsonInt
}

var countingFields = []string{"entity", "status", "date", "focal_point", "represents", "from", "to", "count",
	"purpose", "start", "organizers", "counter", "value"}

// fastCounting decodes counting data as json.Unmarshal would, or says it cannot.
func fastCounting(raw []byte, d *countingData) bool {
	fs := fieldSet{names: countingFields}
	return jsonMembers(raw, func(key, v []byte) bool {
		i, ok := fs.take(key)
		if !ok {
			return false
		}
		switch i {
		case 0:
			return fastStr(v, &d.Entity)
		case 1:
			return fastStr(v, &d.Status)
		case 2:
			return fastStr(v, &d.Date)
		case 3:
			return fastStr(v, &d.FocalPoint)
		case 4:
			if bytes.Equal(v, jsonNull) {
				d.Represents = nil
				return true
			}
			d.Represents = &Actor{}
			return fastActor(v, d.Represents)
		case 5:
			return fastStr(v, &d.From)
		case 6:
			return fastStr(v, &d.To)
		case 7:
			return fastRaw(v, &d.Count)
		case 8:
			return fastStr(v, &d.Purpose)
		case 9:
			return fastStr(v, &d.Start)
		case 10:
			return fastActors(v, &d.Organizers)
		case 11:
			return fastStr(v, &d.Counter)
		case 12:
			return fastRaw(v, &d.Value)
		}
		return true
	})
}
