package schemas

import (
	"embed"
	"io/fs"
	"slices"
	"strings"
)

// FS holds the contract's schema files, defs.json and one <type>.json per event type, for
// serving them over HTTP (they are the publishers' reference).
//
//go:embed defs.json compact.*.json
var FS embed.FS

// baseURL is the prefix of every schema's $id. The ids are names only: every schema is
// registered with the compiler from FS, and the compiler is forbidden to load anything else.
const baseURL = "https://compact.example/schemas/"

// defsFile is the file of shared definitions; it is not an event type.
const defsFile = "defs.json"

// typeList is derived from the embedded file names, so that adding an event type is adding
// its schema file, and the list cannot drift from the files.
var typeList = func() []string {
	entries, err := fs.ReadDir(FS, ".")
	if err != nil {
		panic("schemas: reading the embedded schemas: " + err.Error())
	}
	var types []string
	for _, e := range entries {
		name := e.Name()
		if name == defsFile || !strings.HasSuffix(name, ".json") {
			continue
		}
		types = append(types, strings.TrimSuffix(name, ".json"))
	}
	slices.Sort(types)
	return types
}()

var typeSet = func() map[string]bool {
	m := make(map[string]bool, len(typeList))
	for _, t := range typeList {
		m[t] = true
	}
	return m
}()

// Types returns every event type, sorted.
func Types() []string {
	return slices.Clone(typeList)
}

// Known reports whether t is an event type of the contract.
func Known(t string) bool {
	return typeSet[t]
}
