package schemas

import (
	"errors"
	"strings"
)

// ErrUnknownType is wrapped by the error [Validator.Validate] returns for a type that is not
// in the contract.
var ErrUnknownType = errors.New("unknown event type")

// FieldError names one problem: Field is a JSON pointer relative to the data object
// ("/start", "/organizers/0/kind", "" for the object itself), Message the rule in plain words.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// String is "field: message", with "data" standing for the object itself.
func (f FieldError) String() string {
	field := f.Field
	if field == "" {
		field = "data"
	}
	return field + ": " + f.Message
}

// ValidationError is every problem found in one event's data, most specific (deepest field)
// first.
type ValidationError struct {
	Type     string
	Problems []FieldError
}

// Error prints "field: message; field: message".
func (e *ValidationError) Error() string {
	var sb strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(p.String())
	}
	return sb.String()
}
