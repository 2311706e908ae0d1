package demo

//go:generate go run ./gen -in . -out .

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
)

//go:embed *.jsonl entities.json
var files embed.FS

// Files are the dataset's event files in the order they are published: members before the
// structure that names them, opening balances before the events that follow them, the bulk
// history before the seed's activities.
var Files = []string{
	"members.jsonl",
	"structure.jsonl",
	"openings.jsonl",
	"focal_points.jsonl",
	"documents.jsonl",
	"platform_visits.jsonl",
	"cted.jsonl",
	"activities.jsonl",
}

// Entity is a publisher of the dataset, as the ledger issues credentials for it.
type Entity struct {
	Entity string `json:"entity"`
	Name   string `json:"name"`
	// Role is "publisher", or "secretariat" for SECRETARIAT.
	Role string `json:"role"`
}

// Events returns every event of the dataset, each the raw JSON of one CloudEvent, in the order
// they are to be published.
func Events() ([][]byte, error) {
	var out [][]byte
	for _, name := range Files {
		evs, err := fileEvents(name)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// fileEvents returns the lines of one embedded file, each checked to be a JSON object.
func fileEvents(name string) ([][]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("demo: %s is not embedded: %w", name, err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		if !json.Valid(raw) || raw[0] != '{' {
			return nil, fmt.Errorf("demo: %s:%d is not a JSON object: fix the file (or rerun go generate for generated files)", name, line)
		}
		out = append(out, bytes.Clone(raw))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("demo: reading %s: %w", name, err)
	}
	return out, nil
}

// Entities returns every entity that publishes in the dataset, sorted by acronym.
func Entities() ([]Entity, error) {
	b, err := files.ReadFile("entities.json")
	if err != nil {
		return nil, fmt.Errorf("demo: entities.json is not embedded: %w", err)
	}
	var out []Entity
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("demo: entities.json: %w", err)
	}
	return out, nil
}
