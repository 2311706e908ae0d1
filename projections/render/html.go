package render

import (
	"bytes"
	_ "embed"
	"errors"
	"html/template"
	"io"
	"slices"
	"strings"

	"compact/projections"
)

//go:embed templates.html
var templateText string

var templates = template.Must(template.New("render").Funcs(template.FuncMap{
	"kicker":           func() string { return kicker },
	"numbersHeading":   func() string { return numbersHeading },
	"structureHeading": func() string { return structureHeading },
	"join":             func(s []string) string { return strings.Join(s, ", ") },
	"provenance":       func(p provenance) string { return p.Text("") },
	"units": func(us ...*projections.Unit) []*projections.Unit {
		return slices.DeleteFunc(us, func(u *projections.Unit) bool { return u == nil })
	},
}).Parse(templateText))

var errNilReview = errors.New("render: no review to render (nil)")

// HTML writes the review as one self-contained, printable HTML page: the numbers as a panel
// with a chart of each counter over r.History, the sections, the structure as a table by
// pillar, the cited events and the provenance. It uses no script and no external asset.
func HTML(w io.Writer, r *projections.Review) error {
	if r == nil {
		return errNilReview
	}
	return execute(w, "review", prepare(r))
}

// periodLink is a period on the home page.
type periodLink struct {
	Period string
	Label  string
}

// Index writes the home page: the periods with a review, newest first, each linking to its
// page and to its Markdown and JSON. Strings that are not periods are left out.
func Index(w io.Writer, periods []string) error {
	var ps []string
	for _, p := range periods {
		if CheckPeriod(p) == nil && !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	// YYYY-MM sorts as text.
	slices.Sort(ps)
	slices.Reverse(ps)
	links := make([]periodLink, len(ps))
	for i, p := range ps {
		links[i] = periodLink{Period: p, Label: periodLabel(p)}
	}
	return execute(w, "index", links)
}

// errorPage writes the human page for a failed request.
func errorPage(w io.Writer, status, message string) error {
	return execute(w, "error", struct{ Status, Message string }{status, message})
}

// execute renders into a buffer first, so that a template error never leaves half a page.
func execute(w io.Writer, name string, data any) error {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
