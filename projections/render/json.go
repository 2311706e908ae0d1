package render

import (
	"encoding/json"
	"io"

	"compact/projections"
)

// JSON writes the review as the API's JSON: projections.Review, indented. Every item carries
// the source, id and sequence of its event; the provenance says what the review was built from.
func JSON(w io.Writer, r *projections.Review) error {
	if r == nil {
		return errNilReview
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// The body is served as application/json, never as HTML: keep "&" and "<" readable.
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
