package render

import (
	"bufio"
	"fmt"
	"io"
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
	fmt.Fprintf(b, "# %s\n\n", mdText(p.Title))

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
		fmt.Fprintf(b, "## %s\n\n", mdText(g.Title))
		for _, s := range g.Sections {
			if s.Heading != "" {
				fmt.Fprintf(b, "### %s\n\n", mdText(s.Heading))
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
			fmt.Fprintf(b, "### %s\n\n", mdText(s.Heading))
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
			fmt.Fprintf(b, "### %s\n\n", mdText(u.Name))
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

// mdEscaper backslash-escapes what Markdown would otherwise read as markup or raw HTML.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `<`, `\<`, `>`, `\>`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

// mdText escapes event text for Markdown.
func mdText(s string) string {
	return mdEscaper.Replace(s)
}

// mdCell escapes a table cell: text escaping plus the column separator.
func mdCell(s string) string {
	return strings.ReplaceAll(mdEscaper.Replace(s), "|", `\|`)
}

// mdURL keeps a link destination inside its parentheses.
func mdURL(u string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E").Replace(u)
}
