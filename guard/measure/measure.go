// Package measure measures a prompt-injection scorer on labelled JSONL
// files: recall, false-positive rate, precision, F1 and ROC AUC, overall and
// per source, at a stated threshold. It scores through a function, so it
// measures whatever model guard ships (guard.Analyze) as well as any other.
package measure

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Example is one labelled text; other fields of the line are ignored.
type Example struct {
	Text   string `json:"text"`
	Label  string `json:"label"` // "injection" or "benign"
	Source string `json:"source"`
}

// Injection reports whether e is labelled an injection.
func (e Example) Injection() bool { return e.Label == "injection" }

// Load reads JSONL files of examples. A line without a valid label is an
// error: a silently skipped line would change the figures.
func Load(paths ...string) ([]Example, error) {
	var out []Example
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		exs, err := Read(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, exs...)
	}
	return out, nil
}

// Read reads examples from JSONL.
func Read(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e Example
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if e.Label != "injection" && e.Label != "benign" {
			return nil, fmt.Errorf("line %d: label %q, want injection or benign", n, e.Label)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Scores runs score over every text, in parallel, and returns the scores
// in the order of exs.
func Scores(exs []Example, score func(string) float64) []float64 {
	out := make([]float64, len(exs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = score(exs[i].Text)
			}
		}()
	}
	for i := range exs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// Metrics are the figures of one group of examples at one threshold.
type Metrics struct {
	Group          string
	TP, FP, TN, FN int
	AUC            float64 // NaN-free: 0 when the group lacks a class
	HasAUC         bool
}

// N is the number of examples.
func (m Metrics) N() int { return m.TP + m.FP + m.TN + m.FN }

// Injections is the number of injections, Benign the number of benign texts.
func (m Metrics) Injections() int { return m.TP + m.FN }
func (m Metrics) Benign() int     { return m.FP + m.TN }

// Recall is TP/(TP+FN); FPR is FP/(FP+TN); Precision is TP/(TP+FP); F1 is
// 2TP/(2TP+FP+FN). Each is 0 when its denominator is.
func (m Metrics) Recall() float64    { return ratio(m.TP, m.TP+m.FN) }
func (m Metrics) FPR() float64       { return ratio(m.FP, m.FP+m.TN) }
func (m Metrics) Precision() float64 { return ratio(m.TP, m.TP+m.FP) }
func (m Metrics) F1() float64        { return ratio(2*m.TP, 2*m.TP+m.FP+m.FN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Measure computes the metrics of the examples idx (all when nil) at
// threshold t: a text is flagged when its score is at least t.
func Measure(group string, exs []Example, scores []float64, idx []int, t float64) Metrics {
	m := Metrics{Group: group}
	if idx == nil {
		idx = make([]int, len(exs))
		for i := range idx {
			idx[i] = i
		}
	}
	var pos, neg []float64
	for _, i := range idx {
		flagged := scores[i] >= t
		switch inj := exs[i].Injection(); {
		case inj && flagged:
			m.TP++
		case inj:
			m.FN++
		case flagged:
			m.FP++
		default:
			m.TN++
		}
		if exs[i].Injection() {
			pos = append(pos, scores[i])
		} else {
			neg = append(neg, scores[i])
		}
	}
	m.AUC, m.HasAUC = AUC(pos, neg)
	return m
}

// AUC is the ROC AUC: the chance that a random injection scores above a
// random benign text, ties counting half. ok is false when a class is
// empty.
func AUC(pos, neg []float64) (auc float64, ok bool) {
	if len(pos) == 0 || len(neg) == 0 {
		return 0, false
	}
	neg = append([]float64(nil), neg...)
	sort.Float64s(neg)
	var sum float64
	for _, p := range pos {
		lo := sort.SearchFloat64s(neg, p)
		hi := sort.Search(len(neg), func(i int) bool { return neg[i] > p })
		sum += float64(lo) + float64(hi-lo)/2
	}
	return sum / float64(len(pos)*len(neg)), true
}

// Grouping maps a source to the name of its group ("" leaves it out).
type Grouping struct {
	Name string
	Key  func(source string) string
}

// Field returns the first n colon-separated fields of a source
// ("planted:override:man:de", 2 -> "planted:override").
func Field(source string, n int) string {
	parts := strings.SplitN(source, ":", n+1)
	if len(parts) > n {
		parts = parts[:n]
	}
	return strings.Join(parts, ":")
}

// DefaultGroupings are the tables Report prints: by source kind, by source
// and family, and, for planted attacks, by host document kind and by
// language.
var DefaultGroupings = []Grouping{
	{"kind", func(s string) string { return Field(s, 1) }},
	{"source", func(s string) string { return Field(s, 2) }},
	{"planted into", func(s string) string {
		if p := strings.Split(s, ":"); p[0] == "planted" && len(p) >= 3 {
			return "planted:*:" + p[2]
		}
		return ""
	}},
	{"language", func(s string) string {
		if p := strings.Split(s, ":"); (p[0] == "planted" && len(p) >= 4) || (p[0] == "direct" && len(p) >= 3) {
			return p[0] + ":*:" + p[len(p)-1]
		}
		return ""
	}},
}

// Group returns the metrics of every group of g, sorted by name.
func Group(g Grouping, exs []Example, scores []float64, t float64) []Metrics {
	idx := map[string][]int{}
	for i, e := range exs {
		if k := g.Key(e.Source); k != "" {
			idx[k] = append(idx[k], i)
		}
	}
	names := make([]string, 0, len(idx))
	for k := range idx {
		names = append(names, k)
	}
	sort.Strings(names)
	var allPos, allNeg []float64
	for i, e := range exs {
		if e.Injection() {
			allPos = append(allPos, scores[i])
		} else {
			allNeg = append(allNeg, scores[i])
		}
	}
	out := make([]Metrics, len(names))
	for i, k := range names {
		m := Measure(k, exs, scores, idx[k], t)
		// A group of one class is ranked against the other class of the
		// whole evaluation: how its injections rank among all benign
		// texts, or its benign texts among all injections.
		if !m.HasAUC {
			var pos, neg []float64
			for _, j := range idx[k] {
				if exs[j].Injection() {
					pos = append(pos, scores[j])
				} else {
					neg = append(neg, scores[j])
				}
			}
			if len(pos) == 0 {
				pos = allPos
			} else {
				neg = allNeg
			}
			m.AUC, m.HasAUC = AUC(pos, neg)
		}
		out[i] = m
	}
	return out
}

// WriteTable writes metrics as a Markdown table. Recall is "-" for a group
// without injections and FPR for one without benign texts; the AUC of a
// group of one class ranks it against the other class of all examples.
func WriteTable(w io.Writer, title string, ms []Metrics) {
	fmt.Fprintf(w, "| %s | n | injections | benign | recall | FPR | precision | F1 | AUC |\n", title)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, m := range ms {
		rec, fpr, prec, f1, auc := "-", "-", "-", "-", "-"
		if m.Injections() > 0 {
			rec = fmt.Sprintf("%.3f", m.Recall())
			f1 = fmt.Sprintf("%.3f", m.F1())
		}
		if m.Benign() > 0 {
			fpr = fmt.Sprintf("%.3f", m.FPR())
		}
		if m.TP+m.FP > 0 {
			prec = fmt.Sprintf("%.3f", m.Precision())
		}
		if m.HasAUC {
			auc = fmt.Sprintf("%.3f", m.AUC)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %s | %s | %s | %s | %s |\n", m.Group, m.N(), m.Injections(), m.Benign(), rec, fpr, prec, f1, auc)
	}
}

// Report scores exs and writes the overall figures and one table per
// grouping, in Markdown, with the threshold used.
func Report(w io.Writer, exs []Example, score func(string) float64, t float64, groupings []Grouping) []float64 {
	scores := Scores(exs, score)
	fmt.Fprintf(w, "%d texts (%d injections, %d benign), threshold %.3f\n\n", len(exs), count(exs, true), count(exs, false), t)
	WriteTable(w, "overall", []Metrics{Measure("all", exs, scores, nil, t)})
	for _, g := range groupings {
		if ms := Group(g, exs, scores, t); len(ms) > 0 {
			fmt.Fprintln(w)
			WriteTable(w, g.Name, ms)
		}
	}
	return scores
}

func count(exs []Example, inj bool) int {
	n := 0
	for _, e := range exs {
		if e.Injection() == inj {
			n++
		}
	}
	return n
}
