package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// ContentType is the media type of the Prometheus text exposition format,
// version 0.0.4, that Registry writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Counter is a count that only goes up, safe for concurrent use. A
// Counter made by NewCounter is a family of its own, served once
// registered; the counters of a CounterVec come from its With.
type Counter struct {
	n    atomic.Uint64
	desc *desc // nil for a child of a CounterVec
}

// NewCounter returns a counter at zero, served as the family name (with
// help as its HELP line) once registered with a Registry.
func NewCounter(name, help string) *Counter {
	return &Counter{desc: &desc{name: name, help: help}}
}

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds n; it panics when n is negative, because a counter never goes
// down (a rate over it would show a reset).
func (c *Counter) Add(n int) {
	if n < 0 {
		panic(fmt.Sprintf("metrics: counter decreased by %d", n))
	}
	c.n.Add(uint64(n))
}

// Value returns the count.
func (c *Counter) Value() uint64 { return c.n.Load() }

func (c *Counter) describe() desc {
	if c.desc == nil { // a series of a CounterVec, not a family
		return desc{}
	}
	return *c.desc
}

func (c *Counter) collect(dst []family) []family {
	return append(dst, family{name: c.desc.name, help: c.desc.help, typ: "counter",
		series: []series{{value: float64(c.Value())}}})
}

// CounterVec is a family of counters told apart by the values of its
// labels. A series is made, at zero, by the first With of its values;
// a family of which no series was made is not served.
type CounterVec struct {
	desc
	labels []string

	mu       sync.RWMutex
	children map[string]*labeledCounter // by the label values joined with labelSep
}

type labeledCounter struct {
	values []string
	Counter
}

// labelSep joins label values into a map key; it cannot occur in valid
// UTF-8, and With makes every value valid UTF-8.
const labelSep = "\xff"

// NewCounterVec returns a family of counters with the given label names.
func NewCounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{desc: desc{name: name, help: help}, labels: labels}
}

// With returns the counter of the given label values, one per label name
// in the order of NewCounterVec, making it at zero on first use. It panics
// when the number of values is not the number of labels. A value that is
// not valid UTF-8 has each bad byte replaced by U+FFFD: the exposition
// format is UTF-8.
func (v *CounterVec) With(values ...string) *Counter {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s has labels %q, given %d values", v.name, v.labels, len(values)))
	}
	var key string
	if len(values) == 1 {
		key = values[0]
	} else {
		key = strings.Join(values, labelSep)
	}
	v.mu.RLock()
	c, ok := v.children[key]
	v.mu.RUnlock()
	if ok {
		return &c.Counter
	}
	valid := make([]string, len(values))
	for i, s := range values {
		valid[i] = strings.ToValidUTF8(s, string(utf8.RuneError))
	}
	if !slices.Equal(valid, values) {
		return v.With(valid...)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.children[key]; ok {
		return &c.Counter
	}
	if v.children == nil {
		v.children = map[string]*labeledCounter{}
	}
	c = &labeledCounter{values: valid}
	v.children[key] = c
	return &c.Counter
}

func (v *CounterVec) describe() desc { return v.desc }

func (v *CounterVec) collect(dst []family) []family {
	v.mu.RLock()
	ss := make([]series, 0, len(v.children))
	for _, c := range v.children {
		ss = append(ss, series{names: v.labels, values: c.values, value: float64(c.Value())})
	}
	v.mu.RUnlock()
	if len(ss) == 0 {
		return dst
	}
	slices.SortFunc(ss, func(a, b series) int { return slices.Compare(a.values, b.values) })
	return append(dst, family{name: v.name, help: v.help, typ: "counter", series: ss})
}

// Collector is what a Registry serves: a *Counter from NewCounter or a
// *CounterVec (and, inside this package, the Go and process collectors).
type Collector interface {
	// describe returns the name and help of the collector's one family,
	// or, for a collector of several, an empty name.
	describe() desc
	// collect appends the collector's families, read now, to dst.
	collect(dst []family) []family
}

// Registry is a set of collectors served together in the text
// exposition format. Its methods are safe for concurrent use.
type Registry struct {
	mu         sync.Mutex
	collectors []Collector
	names      map[string]bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// MustRegister adds collectors to r. It panics when a name is not a valid
// metric name, a label name is not valid, or a family of that name is
// already registered: a programming error, found by any test that
// serves the registry.
func (r *Registry) MustRegister(cs ...Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names == nil {
		r.names = map[string]bool{}
	}
	for _, c := range cs {
		d := c.describe()
		var names []string
		if d.name != "" {
			names = []string{d.name}
		} else if g, ok := c.(*gatherer); ok {
			names = g.names
		} else {
			panic("metrics: registering a series of a CounterVec; register the CounterVec")
		}
		for _, n := range names {
			if !validName(n, true) {
				panic(fmt.Sprintf("metrics: %q is not a valid metric name", n))
			}
			if r.names[n] {
				panic(fmt.Sprintf("metrics: %s is registered twice", n))
			}
			r.names[n] = true
		}
		if v, ok := c.(*CounterVec); ok {
			for _, l := range v.labels {
				if !validName(l, false) || strings.HasPrefix(l, "__") {
					panic(fmt.Sprintf("metrics: %s: %q is not a valid label name", v.name, l))
				}
			}
		}
		r.collectors = append(r.collectors, c)
	}
}

// WriteTo writes every family of r, sorted by name, in the text
// exposition format (version 0.0.4).
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	var fs []family
	for _, c := range cs {
		fs = c.collect(fs)
	}
	slices.SortFunc(fs, func(a, b family) int { return strings.Compare(a.name, b.name) })
	var b bytes.Buffer
	for _, f := range fs {
		f.write(&b)
	}
	return b.WriteTo(w)
}

// Handler serves r in the text exposition format.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		r.WriteTo(&b) // a bytes.Buffer does not fail
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		if _, err := b.WriteTo(w); err != nil {
			handlerErrors.With("encoding").Inc()
		}
	})
}

// desc is the name and help text of a family.
type desc struct{ name, help string }

// family is a metric family as read at one scrape.
type family struct {
	name, help string
	typ        string // counter, gauge, summary
	series     []series
}

// series is one sample of a family.
type series struct {
	suffix string   // after the family name: "", "_sum", "_count"
	names  []string // label names
	values []string // label values, one per name
	value  float64
}

// write appends f in the text format to b.
func (f *family) write(b *bytes.Buffer) {
	b.WriteString("# HELP ")
	b.WriteString(f.name)
	b.WriteByte(' ')
	writeEscaped(b, f.help, false)
	b.WriteString("\n# TYPE ")
	b.WriteString(f.name)
	b.WriteByte(' ')
	b.WriteString(f.typ)
	b.WriteByte('\n')
	for _, s := range f.series {
		b.WriteString(f.name)
		b.WriteString(s.suffix)
		if len(s.names) > 0 {
			b.WriteByte('{')
			for i, n := range s.names {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(n)
				b.WriteString(`="`)
				writeEscaped(b, s.values[i], true)
				b.WriteByte('"')
			}
			b.WriteByte('}')
		}
		b.WriteByte(' ')
		b.WriteString(formatFloat(s.value))
		b.WriteByte('\n')
	}
}

// writeEscaped writes s with backslash and newline escaped, and the
// double quote too in a label value (quoted), as the format requires.
func writeEscaped(b *bytes.Buffer, s string, quoted bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quoted:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
}

// formatFloat writes a sample value as the Prometheus client does: Go's
// shortest representation, and +Inf, -Inf, NaN.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)
// or, without colons, a label name.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || (colon && c == ':') || i > 0 && '0' <= c && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}
