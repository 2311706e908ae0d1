package projections

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them, so callers branch
// with errors.Is and print the error itself, which says what, where and what to do.
var (
	// ErrUnknownView: a view name that is not counters, review or structure.
	ErrUnknownView = errors.New("unknown view")
	// ErrBadDate: a date that is not YYYY-MM-DD or outside the range the views hold.
	ErrBadDate = errors.New("bad date")
	// ErrBadPeriod: a period that is not YYYY-MM with an odd month (01, 03, ... 11).
	ErrBadPeriod = errors.New("bad period")
	// ErrBadParam: a query parameter of an endpoint with a value it does not take.
	ErrBadParam = errors.New("bad query parameter")
	// ErrInvalidData: an event whose data a view cannot apply (it is quarantined).
	ErrInvalidData = errors.New("invalid event data")
	// ErrUnknownTarget: a correction or retraction of an id the view has not seen (quarantined).
	ErrUnknownTarget = errors.New("correction or retraction of an unknown event")
	// ErrRetracted: a correction of an event that was retracted (quarantined).
	ErrRetracted = errors.New("event already retracted")
	// ErrClosed: the views were closed.
	ErrClosed = errors.New("views closed")
	// ErrConfig: an invalid Config.
	ErrConfig = errors.New("invalid projections config")
	// ErrNotEmpty: BuildAsKnown was given a directory that already holds files.
	ErrNotEmpty = errors.New("directory not empty")
)

// DataError says which field of an event's data a view could not apply, and why.
type DataError struct {
	Field   string // JSON pointer into data, e.g. "/start"
	Message string
	Err     error // ErrInvalidData, ErrUnknownTarget or ErrRetracted
}

func (e *DataError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("data%s: %s", e.Field, e.Message)
}

func (e *DataError) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) error {
	return &DataError{Field: field, Message: fmt.Sprintf(format, args...), Err: ErrInvalidData}
}

// ApplyError is the reason an event was quarantined by a view.
type ApplyError struct {
	View   string
	Seq    uint64
	Type   string
	Source string
	ID     string
	Err    error
}

func (e *ApplyError) Error() string {
	// The counters take a correction of an event they never counted as its first version; the
	// review and the structure find nothing of it to correct and quarantine the correction in
	// turn (notInView): there only a fixed projection and a rebuild bring the event in.
	remedy := "a correction or retraction of it would be quarantined too: fix the projection and run compact rebuild " + e.View
	if e.View == ViewCounters {
		remedy = "publish a compact.event.corrected for it, or fix the projection and run compact rebuild " + e.View
	}
	return fmt.Sprintf("view %s cannot apply seq %d (%s %s id %q): %v; the event is quarantined and the view goes on without it; %s",
		e.View, e.Seq, e.Type, e.Source, e.ID, e.Err, remedy)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// hookAbort is returned by a test hook to abort a follower's run loop as a crash would.
type hookAbort struct{ point string }

func (e *hookAbort) Error() string { return "aborted by test hook at " + e.point }
