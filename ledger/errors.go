package ledger

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of them; test with errors.Is.
var (
	// ErrInvalid: the event is malformed or breaks the contract. Not retryable as is.
	ErrInvalid = errors.New("invalid event")
	// ErrForbidden: the authenticated entity may not publish this event.
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthenticated: no or unknown credentials.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrTooLarge: an event or a batch is over the limits.
	ErrTooLarge = errors.New("too large")
	// ErrUnavailable: the ledger could not append now; the outcome is known (not stored),
	// and the publisher may retry the same event safely.
	ErrUnavailable = errors.New("ledger unavailable")
	// ErrConflict: an event with the same source and id is stored with other content. Not
	// retryable as is: publish a correction, or use a new id.
	ErrConflict = errors.New("conflict")
	// ErrUnknownEntity: no such entity is registered.
	ErrUnknownEntity = errors.New("unknown entity")
	// ErrDataDirInUse: another process runs on the data directory.
	ErrDataDirInUse = errors.New("data directory in use")
)

// FieldError is the error of one event: which field (a JSON pointer from the event's root,
// "" for the whole event) and which rule it breaks.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// Reason is the kind as a word a program can act on: invalid, forbidden, too_large,
	// unauthenticated, unavailable (re-send it) or conflict, as the metric's label. A reply
	// always carries it (the server writes it from Kind); a client reads it back here, where
	// Kind, not on the wire, is nil.
	Reason string `json:"reason,omitempty"`
	// Kind is one of the sentinels above; it decides the HTTP status and the metric label.
	Kind error `json:"-"`
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

func (e *FieldError) Unwrap() error { return e.Kind }

// reason is a short, stable label of the error's kind, for metrics and replies: Reason when
// it is set (an error read back from a reply), else the word of Kind.
func (e *FieldError) reason() string {
	if e.Reason != "" {
		return e.Reason
	}
	switch {
	case errors.Is(e.Kind, ErrForbidden):
		return "forbidden"
	case errors.Is(e.Kind, ErrTooLarge):
		return "too_large"
	case errors.Is(e.Kind, ErrUnavailable):
		return "unavailable"
	case errors.Is(e.Kind, ErrUnauthenticated):
		return "unauthenticated"
	case errors.Is(e.Kind, ErrConflict):
		return "conflict"
	default:
		return "invalid"
	}
}

func invalid(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...), Kind: ErrInvalid}
}

func forbidden(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...), Kind: ErrForbidden}
}
