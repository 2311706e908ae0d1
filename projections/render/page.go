package render

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"compact/projections"
)

// counterLabels are the labels of "Compact in numbers" as the seed writes them.
var counterLabels = map[string]string{
	"entities":            "Compact entities",
	"member_states":       "Member States",
	"organizations":       "International & regional organizations",
	"focal_points":        "Total focal points",
	"documents_shared":    "Documents shared",
	"virtual_visits":      "Virtual visits to the CT Platform",
	"ta_recommendations":  "CTED TA recommendations",
	"country_assessments": "CTED country assessments",
}

// CounterLabel is a counter's label as the review prints it ("Total focal points").
func CounterLabel(name string) string { return counterLabels[name] }

// Headings the renderers print around the sections the review view supplies.
const (
	numbersHeading   = "Counter-Terrorism Compact in numbers"
	structureHeading = "Counter-Terrorism Compact structure"
	kicker           = "United Nations Global Counter-Terrorism Coordination Compact"
)

// page is a review prepared for the Markdown and HTML renderers: items numbered for their
// references, dates written, links split out, the structure grouped by pillar.
type page struct {
	Title       string
	Period      string
	PeriodLabel string // "May-June 2025"
	AsOf        string // "30 June 2025"
	Numbers     []number
	ChartSpan   string // "Jul-Aug 2024 to May-Jun 2025", "" without history
	Groups      []group
	Structure   *structureView
	Refs        []ref
	Provenance  provenance
}

type number struct {
	Name  string
	Label string
	Value string // "1,050"
	Chart *chart
}

type group struct {
	Title    string
	Sections []section
}

type section struct {
	ID      string
	Heading string // "" when the group has a single section
	Items   []item
}

type item struct {
	N     int
	Title string
	// Segments is the title with the links whose label occurs in it marked, as the seed
	// underlines them; Trailing are the links whose label does not occur.
	Segments []segment
	Trailing []link
	Links    []link
	Dates    string
}

// link is an item's link as the renderers show it: a link only when Live, else its text.
type link struct {
	URL   string
	Label string
	Live  bool
}

// Text is what the link shows: its label, or its URL when it has none.
func (l link) Text() string {
	if l.Label != "" {
		return closeBidi(l.Label)
	}
	return closeBidi(l.URL)
}

// closeBidi confines the explicit directional formatting characters of an event's text to
// it: a closer with nothing to close goes, an isolate's closer first closes the embeddings
// left open inside it, and what is still open at the end is closed (an embedding or override
// by U+202C, an isolate by U+2069). A title's U+202E then reverses the title only, not the
// dates, the citation or the next field that follow it on the line.
func closeBidi(s string) string {
	if !strings.ContainsAny(s, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") {
		return s
	}
	const pdf, pdi = '\u202c', '\u2069'
	var b strings.Builder
	var open []rune // pdf or pdi: what closes each level still open
	for _, r := range s {
		switch r {
		case '\u202a', '\u202b', '\u202d', '\u202e':
			open = append(open, pdf)
		case '\u2066', '\u2067', '\u2068':
			open = append(open, pdi)
		case pdf:
			if len(open) == 0 || open[len(open)-1] != pdf {
				continue
			}
			open = open[:len(open)-1]
		case pdi:
			i := len(open) - 1
			for i >= 0 && open[i] != pdi {
				i--
			}
			if i < 0 {
				continue
			}
			for range open[i+1:] {
				b.WriteRune(pdf)
			}
			open = open[:i]
		}
		b.WriteRune(r)
	}
	for i := len(open) - 1; i >= 0; i-- {
		b.WriteRune(open[i])
	}
	return b.String()
}

// liveURL says whether u may become a link: an absolute http or https URL with a host, or a
// mailto URL, without spaces or control characters. Anything else (javascript:, data:,
// vbscript:, file:, relative and protocol-relative URLs) is shown as text, never linked: the
// ledger's schema refuses such URLs, but the renderers do not rely on what wrote the review.
func liveURL(u string) bool {
	if strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f || unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return false
	}
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	lower := strings.ToLower(u)
	switch strings.ToLower(p.Scheme) {
	case "http", "https":
		return p.Host != "" && (strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://"))
	case "mailto":
		return p.Opaque != ""
	}
	return false
}

type segment struct {
	Text string
	URL  string // "" for plain text
}

// ref is an item's citation of its event.
type ref struct {
	N            int
	Entity       string // "UNODC"
	Source       string
	ID           string
	Seq          uint64
	CorrectedSeq uint64
}

// Short is the compact citation: UNODC#2025-05-19-ccpcj-34@1234 (+ the correction's sequence).
func (r ref) Short() string {
	s := fmt.Sprintf("%s#%s@%d", r.Entity, r.ID, r.Seq)
	if r.CorrectedSeq != 0 {
		s += fmt.Sprintf(", corrected @%d", r.CorrectedSeq)
	}
	return s
}

type structureView struct {
	Heading     string // "Eight Compact working groups under four pillars"
	Pillars     []pillar
	Committee   *projections.Unit
	Secretariat *projections.Unit
}

type pillar struct {
	Pillar string // "I"
	Label  string // "Pillar I"
	Units  []projections.Unit
}

type provenance struct {
	Empty          bool
	FirstSeq       uint64
	LastSeq        uint64
	ReviewVersion  uint64
	ViewVersion    int
	CountersSeq    uint64
	CheckpointSize uint64
	CheckpointRoot string
	AsKnownAt      string // RFC 3339, "" for the live review
}

// Text is the provenance as a sentence, with the root quoted by quote (Markdown backticks or nothing).
//
// A checkpoint of tree size N vouches for sequences 1 to N, whatever the range the review was
// built from: the sentence says so when N is not the review's last sequence, since a reader
// takes a checkpoint named under a range to cover it. A review as known at a past time names
// the checkpoint that was the latest then, and must not claim it is the latest now.
func (p provenance) Text(quote string) string {
	var b strings.Builder
	if p.Empty {
		b.WriteString("Built from an empty ledger")
	} else {
		fmt.Fprintf(&b, "Built from ledger sequence %d to %d", p.FirstSeq, p.LastSeq)
	}
	if p.AsKnownAt != "" {
		fmt.Fprintf(&b, " as known at %s", p.AsKnownAt)
	}
	fmt.Fprintf(&b, " (review version %d, view version %d)", p.ReviewVersion, p.ViewVersion)
	if p.CountersSeq != 0 && p.CountersSeq != p.LastSeq {
		fmt.Fprintf(&b, "; counters read at sequence %d", p.CountersSeq)
	}
	b.WriteString(". ")
	switch {
	case p.CheckpointSize == 0 && p.CheckpointRoot == "" && p.AsKnownAt != "":
		b.WriteString("No signed checkpoint had been appended by then.")
	case p.CheckpointSize == 0 && p.CheckpointRoot == "":
		b.WriteString("No signed checkpoint covers it yet.")
	default:
		if p.AsKnownAt != "" {
			b.WriteString("Latest signed checkpoint at that time")
		} else {
			b.WriteString("Latest signed checkpoint")
		}
		fmt.Fprintf(&b, ": tree size %d", p.CheckpointSize)
		if p.CheckpointRoot != "" {
			fmt.Fprintf(&b, ", root %s%s%s", quote, p.CheckpointRoot, quote)
		}
		switch n := p.CheckpointSize; {
		case p.Empty || n == p.LastSeq:
		case n == 0:
			b.WriteString("; it covers no ledger sequence")
		case n > p.LastSeq:
			fmt.Fprintf(&b, "; it covers ledger sequences 1 to %d, beyond this range", n)
		case n+1 == p.LastSeq:
			fmt.Fprintf(&b, "; it covers ledger sequences 1 to %d only, not %d", n, p.LastSeq)
		default:
			fmt.Fprintf(&b, "; it covers ledger sequences 1 to %d only, not %d to %d", n, n+1, p.LastSeq)
		}
		b.WriteString(".")
	}
	return b.String()
}

// prepare builds the page of a review. It does not modify r.
func prepare(r *projections.Review) *page {
	p := &page{Title: closeBidi(r.Title), Period: r.Period, PeriodLabel: periodLabel(r.Period)}
	if p.Title == "" {
		if t, err := projections.PeriodTitle(r.Period); err == nil {
			p.Title = t
		} else {
			p.Title = "Counter-Terrorism Compact in Review " + r.Period
		}
	}
	asOf := r.Counters.AsOf
	if asOf == "" {
		asOf = r.To
	}
	p.AsOf = closeBidi(longDate(asOf))
	for _, name := range projections.CounterNames {
		n := number{Name: name, Label: counterLabels[name], Value: thousands(counterValue(r.Counters, name))}
		n.Chart = newChart(r.History, name, n.Label)
		p.Numbers = append(p.Numbers, n)
	}
	if len(r.History) >= 2 {
		p.ChartSpan = closeBidi(shortPeriodOf(r.History[0].AsOf)) + " to " + closeBidi(shortPeriodOf(r.History[len(r.History)-1].AsOf))
	}
	n := 0
	for _, s := range r.Sections {
		if len(s.Items) == 0 {
			continue
		}
		title, heading := s.Group, s.Heading
		if title == "" {
			title, heading = heading, ""
		}
		if len(p.Groups) == 0 || p.Groups[len(p.Groups)-1].Title != title {
			p.Groups = append(p.Groups, group{Title: closeBidi(title)})
		}
		g := &p.Groups[len(p.Groups)-1]
		sec := section{ID: s.ID, Heading: closeBidi(heading)}
		for _, it := range s.Items {
			n++
			dates := it.Dates
			if dates == "" && it.Start != "" {
				dates = projections.FormatDates(it.Start, it.End, it.DatePrecision)
			}
			text := itemText(it)
			links := make([]link, len(it.Links))
			for i, l := range it.Links {
				links[i] = link{URL: l.URL, Label: l.Label, Live: liveURL(l.URL)}
			}
			segs, trailing := splitLinks(text, links)
			for i := range segs {
				segs[i].Text = closeBidi(segs[i].Text)
			}
			sec.Items = append(sec.Items, item{N: n, Title: closeBidi(text), Segments: segs, Trailing: trailing, Links: links,
				Dates: closeBidi(dates)})
			p.Refs = append(p.Refs, ref{N: n, Entity: closeBidi(strings.TrimPrefix(it.Source, "/entities/")), Source: it.Source,
				ID: closeBidi(it.ID), Seq: it.Seq, CorrectedSeq: it.CorrectedSeq})
		}
		g.Sections = append(g.Sections, sec)
	}
	p.Structure = prepareStructure(r.Structure)
	p.Provenance = provenance{
		Empty: r.Provenance.LastSeq == 0, FirstSeq: r.Provenance.FirstSeq, LastSeq: r.Provenance.LastSeq,
		ReviewVersion: r.Version, ViewVersion: r.Provenance.ViewVersion, CountersSeq: r.Counters.Seq,
		CheckpointSize: r.Provenance.CheckpointSize, CheckpointRoot: r.Provenance.CheckpointRoot,
	}
	if at := r.Provenance.AsKnownAt; !at.IsZero() {
		p.Provenance.AsKnownAt = at.UTC().Format(time.RFC3339Nano)
	}
	return p
}

// splitLinks marks, in title, the first occurrence of each live link's label after the
// previous one; links without a label that occurs are returned as trailing. A link that is not
// live and whose label occurs is left as the title's text.
func splitLinks(title string, links []link) ([]segment, []link) {
	type span struct {
		at, end int
		url     string
	}
	var spans []span
	var trailing []link
	for _, l := range links {
		placed := false
		if l.Label != "" {
			from := 0
			for from <= len(title) {
				i := strings.Index(title[from:], l.Label)
				if i < 0 {
					break
				}
				at := from + i
				end := at + len(l.Label)
				if !l.Live {
					placed = true
					break
				}
				if !slices.ContainsFunc(spans, func(s span) bool { return at < s.end && s.at < end }) {
					spans = append(spans, span{at, end, l.URL})
					placed = true
					break
				}
				from = at + 1
			}
		}
		if !placed {
			trailing = append(trailing, l)
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.at - b.at })
	var segs []segment
	pos := 0
	for _, s := range spans {
		if s.at > pos {
			segs = append(segs, segment{Text: title[pos:s.at]})
		}
		segs = append(segs, segment{Text: title[s.at:s.end], URL: s.url})
		pos = s.end
	}
	if pos < len(title) {
		segs = append(segs, segment{Text: title[pos:]})
	}
	return segs, trailing
}

func prepareStructure(s *projections.Structure) *structureView {
	if s == nil || (len(s.WorkingGroups) == 0 && s.CoordinationCommittee == nil && s.Secretariat == nil) {
		return nil
	}
	v := &structureView{Committee: closeUnit(s.CoordinationCommittee, s.ShortNames), Secretariat: closeUnit(s.Secretariat, s.ShortNames)}
	order := []string{"I", "II", "III", "IV", ""}
	for _, name := range order {
		var units []projections.Unit
		for _, u := range s.WorkingGroups {
			if u.Pillar == name || (name == "" && !slices.Contains(order[:4], u.Pillar)) {
				units = append(units, *closeUnit(&u, s.ShortNames))
			}
		}
		if len(units) == 0 {
			continue
		}
		label := "Pillar " + name
		if name == "" {
			label = "Other"
		}
		v.Pillars = append(v.Pillars, pillar{Pillar: name, Label: label, Units: units})
	}
	if n := len(s.WorkingGroups); n > 0 {
		pillars := 0
		for _, p := range v.Pillars {
			if p.Pillar != "" {
				pillars++
			}
		}
		wg := "working groups"
		if n == 1 {
			wg = "working group"
		}
		v.Heading = capitalize(numberWord(n)) + " Compact " + wg
		if pillars > 0 {
			ps := "pillars"
			if pillars == 1 {
				ps = "pillar"
			}
			v.Heading += " under " + numberWord(pillars) + " " + ps
		}
	}
	return v
}

// closeUnit is a copy of u with its texts passed through closeBidi and its entities by the
// names they go by (short, where a join gave one) (nil for nil).
func closeUnit(u *projections.Unit, short map[string]string) *projections.Unit {
	if u == nil {
		return nil
	}
	name := func(entity string) string { return closeBidi(cmp.Or(short[entity], entity)) }
	c := *u
	c.Name, c.Chair, c.Description = closeBidi(u.Name), name(u.Chair), closeBidi(u.Description)
	c.CoChairs, c.ViceChairs = nil, nil
	for _, x := range u.CoChairs {
		c.CoChairs = append(c.CoChairs, name(x))
	}
	for _, x := range u.ViceChairs {
		c.ViceChairs = append(c.ViceChairs, name(x))
	}
	return &c
}

func counterValue(c projections.Counters, name string) int64 {
	switch name {
	case "entities":
		return c.Entities
	case "member_states":
		return c.MemberStates
	case "organizations":
		return c.Organizations
	case "focal_points":
		return c.FocalPoints
	case "documents_shared":
		return c.DocumentsShared
	case "virtual_visits":
		return c.VirtualVisits
	case "ta_recommendations":
		return c.TARecommendations
	case "country_assessments":
		return c.CountryAssessments
	}
	return 0
}

// thousands writes n with comma thousands separators, as the seed does: 1,050; 407,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

var numberWords = []string{"no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"}

func numberWord(n int) string {
	if n >= 0 && n < len(numberWords) {
		return numberWords[n]
	}
	return strconv.Itoa(n)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// periodLabel is "May-June 2025" for "2025-05"; the period itself when it is not one.
func periodLabel(p string) string {
	t, err := projections.ParsePeriod(p)
	if err != nil {
		return p
	}
	return fmt.Sprintf("%s-%s %04d", t.Month(), t.AddDate(0, 1, 0).Month(), t.Year())
}

// shortPeriodOf is "May-Jun 2025" for a date of May or June 2025.
func shortPeriodOf(date string) string {
	p, err := projections.PeriodOf(date)
	if err != nil {
		return date
	}
	t, _ := projections.ParsePeriod(p)
	return fmt.Sprintf("%s-%s %04d", t.Month().String()[:3], t.AddDate(0, 1, 0).Month().String()[:3], t.Year())
}

// longDate is "30 June 2025" for 2025-06-30; the input when it is not a date.
func longDate(d string) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return d
	}
	return fmt.Sprintf("%d %s %04d", t.Day(), t.Month(), t.Year())
}

// itemText is an item as the review prints it: the title, then the summary as the sentences
// that follow it (the seed's retreat: "… Pact for the Future. The retreat gathered … (25
// June)"); the dates follow in parentheses, so the summary's last full stop goes.
func itemText(it projections.Item) string {
	sum := strings.TrimSpace(it.Summary)
	if sum == "" {
		return it.Title
	}
	sum = strings.TrimSuffix(sum, ".")
	title := strings.TrimSpace(it.Title)
	if strings.HasSuffix(title, ".") || strings.HasSuffix(title, "!") || strings.HasSuffix(title, "?") {
		return title + " " + sum
	}
	return title + ". " + sum
}
