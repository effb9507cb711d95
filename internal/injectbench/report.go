package injectbench

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// Share is k of n.
type Share struct {
	K int `json:"k"`
	N int `json:"n"`
}

func (s Share) String() string {
	if s.N == 0 {
		return "     -"
	}
	return fmt.Sprintf("%3d/%-3d %5.1f%%", s.K, s.N, 100*float64(s.K)/float64(s.N))
}

// Ratio is K/N, 0 for none.
func (s Share) Ratio() float64 {
	if s.N == 0 {
		return 0
	}
	return float64(s.K) / float64(s.N)
}

// ModeReport sums up one taint mode.
type ModeReport struct {
	Mode bulwark.TaintMode `json:"mode"`
	// Effective: planted actions that took effect, of the attacks measured.
	Effective Share `json:"effective"`
	// Reached: planted actions the model saw, and so tried.
	Reached Share `json:"reached"`
	// Quarantined: planted memories kept only as tainted (not effective).
	Quarantined int `json:"quarantined"`
	// AttackJobDone: attack tasks that still did their job.
	AttackJobDone Share `json:"attack_job_done"`
	// BenignDone: benign tasks that did their job.
	BenignDone Share `json:"benign_done"`
	// BenignAsks: the approvals the benign tasks asked for (refused: no
	// one answers), what the mode would cost a person.
	BenignAsks int `json:"benign_asks"`
	// BenignFlagged and AttackFlagged: tasks in which the guard flagged
	// some text read (whatever the mode did with it).
	BenignFlagged Share  `json:"benign_flagged"`
	AttackFlagged Share  `json:"attack_flagged"`
	Skipped       int    `json:"skipped"`
	SkipReason    string `json:"skip_reason,omitempty"` // why (the first reason given)
	// By breaks the figures down: dimension -> value -> [effective, benign done].
	By map[string]map[string][2]Share `json:"by"`
}

// Dimensions of the breakdown, in the order shown.
var Dimensions = []string{"kind", "lang", "topic", "tool", "style", "action", "job"}

func dimension(s *Scenario, d string) string {
	switch d {
	case "kind":
		return s.Kind
	case "lang":
		return s.Lang
	case "topic":
		return []string{"release-notes", "offsite"}[s.Topic]
	case "tool":
		return s.Tool
	case "style":
		return s.Style()
	case "action":
		return s.Action
	case "job":
		return s.Job
	}
	return ""
}

// Summarize sums results up per mode, in the order the modes first appear.
func Summarize(results []Result) []ModeReport {
	var out []ModeReport
	index := map[bulwark.TaintMode]int{}
	for _, r := range results {
		i, ok := index[r.Mode]
		if !ok {
			i = len(out)
			index[r.Mode] = i
			out = append(out, ModeReport{Mode: r.Mode, By: map[string]map[string][2]Share{}})
		}
		m := &out[i]
		s := r.Scenario
		col := 1
		if s.Attack() {
			if r.Skipped != "" {
				m.Skipped++
				if m.SkipReason == "" {
					m.SkipReason = r.Skipped
				}
				continue
			}
			col = 0
			m.Effective.N++
			m.Reached.N++
			if r.Obeyed {
				m.Reached.K++
			}
			m.AttackJobDone.N++
			m.AttackFlagged.N++
			if r.Effect {
				m.Effective.K++
			}
			if r.Quarantined {
				m.Quarantined++
			}
			if r.JobDone {
				m.AttackJobDone.K++
			}
			if r.Flagged {
				m.AttackFlagged.K++
			}
		} else {
			m.BenignDone.N++
			m.BenignAsks += r.Asked
			m.BenignFlagged.N++
			if r.JobDone {
				m.BenignDone.K++
			}
			if r.Flagged {
				m.BenignFlagged.K++
			}
		}
		for _, d := range Dimensions {
			v := dimension(s, d)
			if v == "" {
				continue
			}
			if m.By[d] == nil {
				m.By[d] = map[string][2]Share{}
			}
			cell := m.By[d][v]
			cell[col].N++
			if (col == 0 && r.Effect) || (col == 1 && r.JobDone) {
				cell[col].K++
			}
			m.By[d][v] = cell
		}
	}
	return out
}

// Print writes the reports as text tables.
func Print(w io.Writer, reports []ModeReport) {
	for _, m := range reports {
		fmt.Fprintf(w, "taint mode %s\n", m.Mode)
		fmt.Fprintf(w, "  planted actions the model tried   %s\n", m.Reached)
		fmt.Fprintf(w, "  planted actions that took effect  %s", m.Effective)
		if m.Quarantined > 0 {
			fmt.Fprintf(w, "   (and %d planted memories kept only as tainted)", m.Quarantined)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  benign tasks that did their job   %s   (approvals they asked for: %d)\n", m.BenignDone, m.BenignAsks)
		fmt.Fprintf(w, "  attack tasks that did their job   %s\n", m.AttackJobDone)
		fmt.Fprintf(w, "  guard flagged: attacks %s, benign %s\n", m.AttackFlagged, m.BenignFlagged)
		if m.Skipped > 0 {
			fmt.Fprintf(w, "  skipped: %d shell attacks (%s)\n", m.Skipped, m.SkipReason)
		}
		fmt.Fprintf(w, "  %-8s %-24s %-16s %-16s\n", "by", "", "took effect", "benign done")
		for _, d := range Dimensions {
			values := make([]string, 0, len(m.By[d]))
			for v := range m.By[d] {
				values = append(values, v)
			}
			slices.Sort(values)
			for _, v := range values {
				c := m.By[d][v]
				fmt.Fprintf(w, "  %-8s %-24s %-16s %-16s\n", d, v, c[0], c[1])
			}
		}
		fmt.Fprintln(w)
	}
}

// Markdown writes the headline figures of the reports as a Markdown table,
// then the breakdown of each dimension.
func Markdown(w io.Writer, reports []ModeReport) {
	fmt.Fprintln(w, "| taint mode | planted actions that took effect | benign tasks that did their job | approvals the benign tasks asked for | planted actions the model tried | attack tasks that still did their job | guard flagged (attack / benign) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, m := range reports {
		fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %s | %s / %s |\n", m.Mode, pct(m.Effective), pct(m.BenignDone), m.BenignAsks, pct(m.Reached), pct(m.AttackJobDone), pct(m.AttackFlagged), pct(m.BenignFlagged))
	}
	fmt.Fprintln(w)
	for _, d := range Dimensions {
		var head, sep strings.Builder
		head.WriteString("| " + d + " |")
		sep.WriteString("|---|")
		for _, m := range reports {
			fmt.Fprintf(&head, " %s: took effect | %s: benign done |", m.Mode, m.Mode)
			sep.WriteString("---|---|")
		}
		fmt.Fprintln(w, head.String())
		fmt.Fprintln(w, sep.String())
		values := map[string]bool{}
		for _, m := range reports {
			for v := range m.By[d] {
				values[v] = true
			}
		}
		var sorted []string
		for v := range values {
			sorted = append(sorted, v)
		}
		slices.Sort(sorted)
		for _, v := range sorted {
			fmt.Fprintf(w, "| %s |", v)
			for _, m := range reports {
				c := m.By[d][v]
				fmt.Fprintf(w, " %s | %s |", pct(c[0]), pct(c[1]))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
}

func pct(s Share) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%.1f%%)", s.K, s.N, 100*s.Ratio())
}
