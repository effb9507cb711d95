package web

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"time"
)

// A Chart is a bar chart drawn in Go: its Shapes are SVG elements with
// their geometry computed here. The Security page's script makes each
// one with createElementNS and textContent (no markup from the server
// ever becomes DOM: see the package comment), and SVG writes the same
// shapes as a standalone SVG document for a client without the page.
type Chart struct {
	Name   string  `json:"name"`  // the series: "failed_logins", ...
	Title  string  `json:"title"` // "Failed logins"
	Total  float64 `json:"total"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Points []Point `json:"points"`
	Shapes []Shape `json:"shapes"`
}

// A Point is one bar: the events of a time bucket and where to read them.
type Point struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Value float64   `json:"value"`
	// Href is the audit log page that lists the records behind the
	// value (same-origin path and query); "" for none.
	Href string `json:"href,omitempty"`
}

// A Shape is one SVG element: "rect" (X, Y, W, H), "line" (X, Y to X2,
// Y2) or "text" (at X, Y). A shape with Href is wrapped in a link, and
// Title becomes its tooltip.
type Shape struct {
	Kind   string  `json:"kind"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	W      float64 `json:"w,omitempty"`
	H      float64 `json:"h,omitempty"`
	X2     float64 `json:"x2,omitempty"`
	Y2     float64 `json:"y2,omitempty"`
	Text   string  `json:"text,omitempty"`
	Class  string  `json:"class,omitempty"`
	Anchor string  `json:"anchor,omitempty"` // text-anchor: "start", "middle", "end"
	Href   string  `json:"href,omitempty"`
	Title  string  `json:"title,omitempty"`
}

// Geometry of every chart, in SVG user units.
const (
	chartW      = 360
	chartH      = 140
	chartLeft   = 36 // room for the axis labels
	chartTop    = 8
	chartBottom = 22 // room for the bucket labels
)

// DrawBars draws points as bars under title. label formats a bucket's
// start for the axis (every bucket when few, some when many); unit
// formats a value for tooltips ("3 failed logins").
func DrawBars(name, title string, points []Point, label func(time.Time) string, unit func(float64) string) Chart {
	c := Chart{Name: name, Title: title, Width: chartW, Height: chartH, Points: points}
	max := 0.0
	for _, p := range points {
		c.Total += p.Value
		if p.Value > max {
			max = p.Value
		}
	}
	plotW, plotH := float64(chartW-chartLeft-4), float64(chartH-chartTop-chartBottom)
	base := float64(chartTop) + plotH
	c.Shapes = append(c.Shapes,
		Shape{Kind: "line", X: chartLeft, Y: base, X2: chartLeft + plotW, Y2: base, Class: "axis"},
		Shape{Kind: "text", X: chartLeft - 4, Y: base, Text: "0", Class: "tick", Anchor: "end"})
	if max > 0 {
		c.Shapes = append(c.Shapes, Shape{Kind: "text", X: chartLeft - 4, Y: chartTop + 8, Text: trimFloat(max), Class: "tick", Anchor: "end"})
	}
	if len(points) == 0 {
		return c
	}
	step := plotW / float64(len(points))
	every := max1(len(points) / 8) // at most about 8 labels
	for i, p := range points {
		x := chartLeft + float64(i)*step
		h := 0.0
		if max > 0 {
			h = plotH * p.Value / max
		}
		if p.Value > 0 && h < 1 {
			h = 1 // a bar that counts something shows
		}
		tip := fmt.Sprintf("%s: %s", label(p.Start), unit(p.Value))
		// The link covers the whole column, so that a short bar (or an
		// empty one) can be clicked too.
		c.Shapes = append(c.Shapes,
			Shape{Kind: "rect", X: round1(x), Y: chartTop, W: round1(step), H: plotH, Class: "hit", Href: p.Href, Title: tip},
			Shape{Kind: "rect", X: round1(x + step*0.15), Y: round1(base - h), W: round1(step * 0.7), H: round1(h), Class: "bar", Href: p.Href, Title: tip})
		if i%every == 0 {
			c.Shapes = append(c.Shapes, Shape{Kind: "text", X: round1(x + step/2), Y: chartH - 6, Text: label(p.Start), Class: "tick", Anchor: "middle"})
		}
	}
	return c
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

func trimFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// SVG writes the chart as a standalone SVG document, every text and
// attribute escaped as XML.
func (c Chart) SVG() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		c.Width, c.Height, c.Width, c.Height, esc(c.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	b.WriteString(chartStyle)
	for _, s := range c.Shapes {
		if s.Href != "" {
			fmt.Fprintf(&b, `<a href="%s">`, esc(s.Href))
		}
		switch s.Kind {
		case "rect":
			fmt.Fprintf(&b, `<rect x="%v" y="%v" width="%v" height="%v" class="%s">`, s.X, s.Y, s.W, s.H, esc(s.Class))
			if s.Title != "" {
				fmt.Fprintf(&b, `<title>%s</title>`, esc(s.Title))
			}
			b.WriteString(`</rect>`)
		case "line":
			fmt.Fprintf(&b, `<line x1="%v" y1="%v" x2="%v" y2="%v" class="%s"/>`, s.X, s.Y, s.X2, s.Y2, esc(s.Class))
		case "text":
			fmt.Fprintf(&b, `<text x="%v" y="%v" class="%s" text-anchor="%s">%s</text>`, s.X, s.Y, esc(s.Class), esc(s.Anchor), esc(s.Text))
		}
		if s.Href != "" {
			b.WriteString(`</a>`)
		}
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// chartStyle styles a standalone chart as app.css styles the page's.
const chartStyle = `<style>.bar{fill:#b03a2e}.hit{fill:transparent}.axis{stroke:#888}.tick{font:10px sans-serif;fill:#555}</style>`

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
