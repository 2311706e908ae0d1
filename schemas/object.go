package schemas

// Object is a JSON object as the quick verdict reads it: its members in the order written,
// each name once. A reader that walks the bytes anyway (the ledger's ingest) builds Objects
// rather than maps: an event's data holds a handful of small objects, and a slice of members
// costs a fraction of a map to build and to walk, and little for the collector to scan. Such a
// reader must leave an object with a name written twice to the library's reading (a map, where
// the last value counts), as the ledger's scanner does.
type Object []Member

// Member is one name and value of an Object.
type Member struct {
	Name  string
	Value any
}

// Get returns the value of name.
func (o Object) Get(name string) (any, bool) {
	for i := range o {
		if o[i].Name == name {
			return o[i].Value, true
		}
	}
	return nil, false
}

// toObjects returns v with every map[string]any in it made an Object. A tree without maps,
// what the ingest builds, is returned as it is.
func toObjects(v any) any {
	if !hasMaps(v) {
		return v
	}
	return objectify(v)
}

// objectify is toObjects for a tree with maps: it copies every composite value.
func objectify(v any) any {
	switch v := v.(type) {
	case map[string]any:
		o := make(Object, 0, len(v))
		for name, x := range v {
			o = append(o, Member{name, objectify(x)})
		}
		return o
	case Object:
		o := make(Object, len(v))
		for i, m := range v {
			o[i] = Member{m.Name, objectify(m.Value)}
		}
		return o
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = objectify(x)
		}
		return a
	}
	return v
}

func hasMaps(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		return true
	case Object:
		for _, m := range v {
			if hasMaps(m.Value) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasMaps(x) {
				return true
			}
		}
	}
	return false
}

// toMaps returns v, a tree of toObjects, with every Object in it made a map[string]any: what
// the library validates.
func toMaps(v any) any {
	switch v := v.(type) {
	case Object:
		m := make(map[string]any, len(v))
		for _, mb := range v {
			m[mb.Name] = toMaps(mb.Value)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = toMaps(x)
		}
		return a
	}
	return v
}
