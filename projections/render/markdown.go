package render

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"

	"compact/projections"
)

// Markdown writes the review as Markdown (GitHub flavour): the title, the numbers, each section
// with its items as "- Title (dates)" followed by their links and a footnote citing the event,
// the structure as a table by pillar, the footnotes, and the provenance.
func Markdown(w io.Writer, r *projections.Review) error {
	if r == nil {
		return errNilReview
	}
	p := prepare(r)
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "# %s\n\n", mdHeading(p.Title))

	fmt.Fprintf(b, "## %s\n\n", numbersHeading)
	if p.AsOf != "" {
		fmt.Fprintf(b, "As of %s.\n\n", mdText(p.AsOf))
	}
	for _, n := range p.Numbers {
		fmt.Fprintf(b, "- **%s** %s\n", n.Value, mdText(n.Label))
	}
	b.WriteString("\n")

	if len(p.Groups) == 0 {
		b.WriteString("No activities have been published for this period yet.\n\n")
	}
	for _, g := range p.Groups {
		fmt.Fprintf(b, "## %s\n\n", mdHeading(g.Title))
		for _, s := range g.Sections {
			if s.Heading != "" {
				fmt.Fprintf(b, "### %s\n\n", mdHeading(s.Heading))
			}
			for _, it := range s.Items {
				fmt.Fprintf(b, "- %s", mdText(it.Title))
				if it.Dates != "" {
					fmt.Fprintf(b, " (%s)", mdText(it.Dates))
				}
				for i, l := range it.Links {
					sep := ", "
					if i == 0 {
						sep = " — "
					}
					if !l.Live {
						fmt.Fprintf(b, "%s%s", sep, mdText(l.Text()))
						continue
					}
					fmt.Fprintf(b, "%s[%s](%s)", sep, mdText(l.Text()), mdURL(l.URL))
				}
				fmt.Fprintf(b, "[^%d]\n", it.N)
			}
			b.WriteString("\n")
		}
	}

	if s := p.Structure; s != nil {
		fmt.Fprintf(b, "## %s\n\n", structureHeading)
		if len(s.Pillars) > 0 {
			fmt.Fprintf(b, "### %s\n\n", mdHeading(s.Heading))
			b.WriteString("| Pillar | Working group | Chair | Co-Chairs | Vice-Chairs |\n")
			b.WriteString("| --- | --- | --- | --- | --- |\n")
			for _, pl := range s.Pillars {
				for _, u := range pl.Units {
					fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", mdCell(pl.Label), mdCell(u.Name), mdCell(u.Chair),
						mdCell(strings.Join(u.CoChairs, ", ")), mdCell(strings.Join(u.ViceChairs, ", ")))
				}
			}
			b.WriteString("\n")
		}
		for _, u := range []*projections.Unit{s.Committee, s.Secretariat} {
			if u == nil {
				continue
			}
			fmt.Fprintf(b, "### %s\n\n", mdHeading(u.Name))
			var parts []string
			if u.Chair != "" {
				parts = append(parts, "Chair: "+mdText(u.Chair)+".")
			}
			if u.Description != "" {
				parts = append(parts, mdText(u.Description))
			}
			if len(parts) > 0 {
				b.WriteString(strings.Join(parts, " ") + "\n\n")
			}
		}
	}

	for _, rf := range p.Refs {
		fmt.Fprintf(b, "[^%d]: %s\n", rf.N, mdText(rf.Short()))
	}
	if len(p.Refs) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("---\n\n")
	// The provenance holds numbers, fixed words and a base64 root: nothing to escape.
	b.WriteString(p.Provenance.Text("`") + "\n")
	return b.Flush()
}

// mdEscaper backslash-escapes what Markdown would otherwise read as markup or raw HTML, and
// makes every line end a space: a text never leaves its line.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `<`, `\<`, `>`, `\>`, `~`, `\~`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

// mdEntity is what CommonMark reads as an entity or character reference (&amp; &#106; &#x3C;):
// its & is escaped so that the reference shows as written.
var mdEntity = regexp.MustCompile(`&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);`)

// mdBlockStart is what opens a list, a heading, a thematic break or a setext underline at the
// start of a line; mdOrdered an ordered list's number.
var (
	mdBlockStart = regexp.MustCompile(`^[-+=#]`)
	mdOrdered    = regexp.MustCompile(`^([0-9]+)([.)])`)
)

// mdText escapes event text for Markdown, wherever it stands: inline markup and raw HTML are
// escaped, line ends become spaces, entity references show as written, and the leading spaces
// (an indented code block) and a leading list, heading or break marker lose their effect.
func mdText(s string) string {
	return mdEscape(s, false)
}

// mdHeading escapes the text of an ATX heading: mdText, and every # (a closing sequence would
// be dropped).
func mdHeading(s string) string {
	return mdEscape(s, true)
}

func mdEscape(s string, heading bool) string {
	s = strings.TrimLeft(mdEscaper.Replace(s), " \t")
	if heading {
		s = strings.ReplaceAll(s, "#", `\#`)
	}
	s = mdEntity.ReplaceAllString(s, `\&$1;`)
	if mdBlockStart.MatchString(s) {
		s = `\` + s
	}
	return mdOrdered.ReplaceAllString(s, `$1\$2`)
}

// mdCell escapes a table cell: text escaping plus the column separator.
func mdCell(s string) string {
	return strings.ReplaceAll(mdText(s), "|", `\|`)
}

// mdURLEscaper keeps a link destination inside its parentheses and whole: what would end it,
// escape its end or open a code span across it is percent-encoded.
var mdURLEscaper = strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E", `\`, "%5C", "`", "%60")

// mdURL writes a live URL as a link destination; an entity reference in it stays as written.
func mdURL(u string) string {
	return mdEntity.ReplaceAllString(mdURLEscaper.Replace(u), `\&$1;`)
}
