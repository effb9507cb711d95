package main

import (
	"encoding/json"
	"github.com/bulwark-agents/bulwark/internal/affix"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
)

// attack is an instruction to plant in a document. Alone says whether it
// is an injection even typed on its own ("ignore your instructions")
// rather than only inside a document addressed to whoever reads it ("what
// is the capital of Brazil?").
type attack struct {
	Text   string `json:"text"`
	Lang   string `json:"lang"`
	Family string `json:"family"`
	Alone  bool   `json:"alone"`
}

func loadJSONL[T any](path string) ([]T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// indirectRow is a line of indirect-dev.jsonl.
type indirectRow struct {
	Text     string `json:"text"`
	Label    string `json:"label"`
	Source   string `json:"source"`
	Category string `json:"category"`
}

// bipiaAttack is an attack of indirect-dev.jsonl recovered from the text
// it was planted in: the part of the text that is not its clean context.
type bipiaAttack struct {
	attack
	row        int    // index in indirect-dev.jsonl
	context    int    // index of the clean context it was planted in
	kind       string // the context's kind: email, table or code
	start, end int    // the planted span in the row's text
}

// contextKind is "email", "table" or "code", from a BIPIA source.
func contextKind(source string) string {
	for _, k := range []string{"email", "table", "code"} {
		if strings.Contains(source, "benchmark/"+k+"/") {
			return k
		}
	}
	return "other"
}

// extractBIPIA finds, for every injection of indirect-dev.jsonl, the clean
// context it was built from (the benign row with the longest common prefix
// and suffix) and the planted span between them.
func extractBIPIA(rows []indirectRow) []bipiaAttack {
	var out []bipiaAttack
	for i, r := range rows {
		if r.Label != "injection" {
			continue
		}
		kind := contextKind(r.Source)
		best, bestLen, bs, be := -1, 0, 0, 0
		for j, c := range rows {
			if c.Label != "benign" || contextKind(c.Source) != kind {
				continue
			}
			p := affix.Prefix(r.Text, c.Text)
			s := affix.Suffix(r.Text[p:], c.Text[min(p, len(c.Text)):])
			if p+s > bestLen && p+s >= len(c.Text)*9/10 {
				best, bestLen, bs, be = j, p+s, p, len(r.Text)-s
			}
		}
		if best < 0 && kind == "table" {
			// The context is not among the clean ones: in a table the
			// planted lines are those that are not rows.
			bs, be = tableIntruder(r.Text)
		}
		if be <= bs {
			continue
		}
		text := strings.TrimSpace(r.Text[bs:be])
		if text == "" {
			continue
		}
		out = append(out, bipiaAttack{attack: attack{Text: text, Lang: "en", Family: r.Category}, row: i, context: best, kind: kind, start: bs, end: be})
	}
	return out
}

// tableIntruder returns the span from the first to the last non-empty
// line of text without a "|", or 0, 0.
func tableIntruder(text string) (int, int) {
	start, end := -1, 0
	pos := 0
	for _, line := range strings.SplitAfter(text, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.Contains(t, "|") {
			if start < 0 {
				start = pos
			}
			end = pos + len(strings.TrimRight(line, "\n"))
		}
		pos += len(line)
	}
	if start < 0 {
		return 0, 0
	}
	return start, end
}

// planted is a document with an attack planted in it: the planted bytes
// are Text[Start:End].
type planted struct {
	Text       string
	Start, End int
}

// plant puts a in text where a document would carry it: on a line of its
// own at the start, middle or end, inside a sentence, as a table row or
// cell, or as a comment in code, sometimes after a lead-in addressed to
// the reader.
func plant(rng *rand.Rand, text string, a attack, kind string) planted {
	body := a.Text
	if rng.IntN(8) == 0 {
		leads := []string{"Note to the assistant: ", "AI: ", "Before you continue, ", "Assistant, ", "To the AI reading this: "}
		body = leads[rng.IntN(len(leads))] + body
	}
	lines := strings.SplitAfter(text, "\n")
	at := 0
	switch rng.IntN(3) {
	case 0:
		at = 0
	case 1:
		at = len(lines) / 2
	default:
		at = len(lines)
	}
	prefix := strings.Join(lines[:at], "")
	suffix := strings.Join(lines[at:], "")
	style := rng.IntN(10)
	var before, after string
	switch {
	case kind == "code" && style < 3 && !strings.Contains(body, "\n"):
		before, after = "# ", "\n"
		if rng.IntN(2) == 0 {
			before = "// "
		}
	case (kind == "table" || strings.Count(text, "|") > 6) && style < 3 && !strings.Contains(body, "\n"):
		before, after = "| ", " |\n"
	case style < 2 && at > 0 && at < len(lines) && !strings.Contains(body, "\n"):
		// Inside the running text: at the end of the line before.
		prefix = strings.TrimRight(prefix, "\n") + " "
		after = "\n"
	default:
		after = "\n"
		if rng.IntN(2) == 0 {
			before, after = "\n", "\n\n"
		}
	}
	if prefix != "" && !strings.HasSuffix(prefix, "\n") && !strings.HasSuffix(prefix, " ") {
		prefix += "\n"
	}
	start := len(prefix) + len(before)
	out := prefix + before + body + after + suffix
	return planted{Text: out, Start: start, End: start + len(body)}
}

// categoryGroups splits the BIPIA attack categories into two groups, each
// with about half of the text and half of the code categories, so that a
// model trained on one group is evaluated on attack families it never saw.
func categoryGroups(as []bipiaAttack) (a, b map[string]bool) {
	a, b = map[string]bool{}, map[string]bool{}
	kinds := map[string]string{}
	for _, x := range as {
		kinds[x.Family] = "text"
		if x.kind == "code" {
			kinds[x.Family] = "code"
		}
	}
	var cats []string
	for c := range kinds {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	n := map[string]int{}
	for _, c := range cats {
		if n[kinds[c]]%2 == 0 {
			a[c] = true
		} else {
			b[c] = true
		}
		n[kinds[c]]++
	}
	return a, b
}
