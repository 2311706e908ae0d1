package ledger

import (
	"encoding/json"
	"strings"
)

// Names of the streams and subjects of the contract (../DESIGN.md, "Subjects and streams").
const (
	// StreamName is the immutable ledger stream.
	StreamName = "COMPACT"
	// CheckpointStreamName holds the signed checkpoints of the ledger.
	CheckpointStreamName = "COMPACT_CHECKPOINTS"
	// CheckpointSubject is the only subject of CheckpointStreamName.
	CheckpointSubject = "compact.checkpoints"
	// EventSubjectPrefix prefixes every stored event's subject:
	// compact.events.<ENTITY>.<type without "compact.">.
	EventSubjectPrefix = "compact.events."
	// IngestSubjectPrefix prefixes the request/reply ingest subject compact.ingest.<ENTITY>.
	IngestSubjectPrefix = "compact.ingest."
	// TypePrefix is the prefix every event type carries.
	TypePrefix = "compact."
	// SourcePrefix prefixes every event source: /entities/<ENTITY>.
	SourcePrefix = "/entities/"
)

// Event is one CloudEvents 1.0 event in JSON structured mode, as the ledger stores it.
//
// The stored message body is exactly the JSON encoding of Event (compact, attributes in
// this order, data compacted). Readers decode it with [DecodeStored].
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	CESubject       string          `json:"subject,omitempty"` // the optional CloudEvents "subject"
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// Entity returns the acronym in the event's source, or "" when the source is not an entity source.
func (e *Event) Entity() string {
	if !strings.HasPrefix(e.Source, SourcePrefix) {
		return ""
	}
	return e.Source[len(SourcePrefix):]
}

// Subject is the stream subject the event is stored under.
func (e *Event) Subject() string {
	return EventSubject(e.Entity(), e.Type)
}

// EventSubject is compact.events.<entity>.<type without the compact. prefix>.
func EventSubject(entity, typ string) string {
	return EventSubjectPrefix + entity + "." + strings.TrimPrefix(typ, TypePrefix)
}

// DecodeStored decodes the body of a message of the COMPACT stream.
func DecodeStored(body []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Stored is an event as read back from the ledger: the event, its stream sequence and the
// time the ledger appended it (RFC 3339, UTC, nanoseconds).
type Stored struct {
	Seq        uint64 `json:"seq"`
	LedgerTime string `json:"ledgertime"`
	*Event
}
