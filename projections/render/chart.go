package render

import (
	"fmt"
	"strings"

	"compact/projections"
)

// chart is a small line chart of one counter over the review's history (oldest first), laid out
// here so that the template only copies numbers into SVG attributes.
type chart struct {
	Width, Height int
	Line          string // polyline points
	Area          string // polygon points: the line closed down to the baseline
	LastX, LastY  string
	// Title is the chart's text equivalent: each period's value.
	Title string
}

const (
	chartWidth  = 120
	chartHeight = 34
	chartPad    = 3
)

// newChart returns nil when there are fewer than two points to draw.
func newChart(history []projections.Counters, name, label string) *chart {
	if len(history) < 2 {
		return nil
	}
	values := make([]int64, len(history))
	lo, hi := int64(0), int64(0)
	for i, c := range history {
		v := counterValue(c, name)
		values[i] = v
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	w, h, pad := float64(chartWidth), float64(chartHeight), float64(chartPad)
	step := (w - 2*pad) / float64(len(values)-1)
	var line []string
	var x, y float64
	parts := make([]string, len(values))
	for i, v := range values {
		x = pad + float64(i)*step
		if hi == lo {
			y = h / 2
		} else {
			y = h - pad - float64(v-lo)/float64(hi-lo)*(h-2*pad)
		}
		line = append(line, fmt.Sprintf("%.1f,%.1f", x, y))
		parts[i] = closeBidi(shortPeriodOf(history[i].AsOf)) + ": " + thousands(v)
	}
	base := fmt.Sprintf("%.1f", h-pad/2)
	area := strings.Join(line, " ") + fmt.Sprintf(" %.1f,%s %.1f,%s", x, base, pad, base)
	return &chart{
		Width: chartWidth, Height: chartHeight,
		Line: strings.Join(line, " "), Area: area,
		LastX: fmt.Sprintf("%.1f", x), LastY: fmt.Sprintf("%.1f", y),
		Title: label + " over the last " + numberWord(len(values)) + " periods: " + strings.Join(parts, "; "),
	}
}
