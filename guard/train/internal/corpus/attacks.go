package corpus

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// attacks adds, for every family, injections planted into benign
// documents of the family's split and typed-prompt injections.
func (b *builder) attacks() {
	for _, f := range Families {
		b.planted(f, b.n(260))
		if !f.PlantedOnly {
			b.direct(f, b.n(50))
		}
	}
}

// attack is one filled template.
type attack struct {
	lang, template, text string
}

// draw picks a language (English two times in five, the others evenly), a
// template of f in it and a framing, and fills the slots.
func draw(f Family, r *rand.Rand) attack {
	lang := "en"
	if r.IntN(5) >= 2 {
		lang = Langs[1+r.IntN(len(Langs)-1)]
	}
	ts := f.Templates[lang]
	if lang == "en" && len(actions[f.Name]) > 0 && r.IntN(2) == 0 {
		fs, as := frames[f.Split], actions[f.Name]
		i, j := r.IntN(len(fs)), r.IntN(len(as))
		text := fillAttack(strings.Replace(fs[i], "{action}", as[j], 1), attackSlots[f.Split], r)
		return attack{lang: lang, template: fmt.Sprintf("%s/en/frame%d-action%d", f.Name, i, j), text: text}
	}
	i := r.IntN(len(ts))
	text := fillAttack(ts[i], attackSlots[f.Split], r)
	if fr := pick(r, framings[f.Split][lang]); fr != "" && f.Name != "fake-markers" {
		text = fr + text
	}
	return attack{lang: lang, template: fmt.Sprintf("%s/%s/%d", f.Name, lang, i), text: text}
}

// fillAttack fills the slots in the order they appear, so the draws do
// not depend on map order.
func fillAttack(t string, slots map[string][]string, r *rand.Rand) string {
	var out strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		j := strings.IndexByte(t[max(i, 0):], '}')
		if i < 0 || j < 0 {
			return out.String() + t
		}
		vs, ok := slots[t[i+1:i+j]]
		if !ok {
			out.WriteString(t[:i+1])
			t = t[i+1:]
			continue
		}
		out.WriteString(t[:i] + pick(r, vs))
		t = t[i+j+1:]
	}
}

var positions = []string{"start", "middle", "end"}

// planted adds n documents of f's split carrying an attack of f.
func (b *builder) planted(f Family, n int) {
	r := b.rng("planted/" + f.Name)
	hosts := b.docs[f.Split]
	if len(hosts) == 0 {
		return
	}
	for i := 0; i < n; i++ {
		h := hosts[r.IntN(len(hosts))]
		a := draw(f, r)
		carrier := pick(r, carriersFor(h.kind))
		pos := pick(r, positions)
		text := plant(h.text, a.text, carrier, pos, r)
		b.out = append(b.out, Example{Text: text, Label: Injection, Split: f.Split, Doc: h.doc,
			Source: fmt.Sprintf("planted:%s:%s:%s", f.Name, h.kind, a.lang),
			Family: f.Name, Lang: a.lang, Carrier: carrier, Position: pos, Template: a.template})
	}
}

// directLeads are what a user types around a direct injection.
var directLeads = []string{"", "", "", "Hi! ", "Quick task for you. ", "I need help with something. ", "Let's play a game. ", "Thanks for the last answer. Now: "}

// direct adds n typed-prompt injections of f.
func (b *builder) direct(f Family, n int) {
	r := b.rng("direct/" + f.Name)
	for i := 0; i < n; i++ {
		a := draw(f, r)
		text := a.text
		if a.lang == "en" {
			text = pick(r, directLeads) + text
		}
		b.out = append(b.out, Example{Text: text, Label: Injection, Split: f.Split,
			Source: fmt.Sprintf("direct:%s:%s", f.Name, a.lang), Family: f.Name, Lang: a.lang, Template: a.template})
	}
}

// carriersFor lists the ways an attack hides in a document of kind.
func carriersFor(kind string) []string {
	switch kind {
	case "html":
		return []string{"html-comment", "html-hidden", "alt-text", "html-paragraph"}
	case "json-api":
		return []string{"json-field"}
	case "gomod-code", "npm-code":
		return []string{"code-comment"}
	case "log":
		return []string{"log-line"}
	case "email":
		return []string{"paragraph", "sentence", "email-ps"}
	case "shell":
		return []string{"shell-comment", "paragraph"}
	default:
		return []string{"paragraph", "paragraph", "sentence", "markdown-quote", "table-cell", "html-comment", "markdown-image"}
	}
}

// plant puts payload into doc with carrier at pos (start, middle, end).
func plant(doc, payload, carrier, pos string, r *rand.Rand) string {
	flat := strings.Join(strings.Fields(payload), " ")
	switch carrier {
	case "paragraph":
		return insertBlock(doc, payload, pos, "\n\n")
	case "sentence":
		return insertSentence(doc, flat, pos)
	case "email-ps":
		return insertBlock(doc, "P.S. "+flat, "end", "\n\n")
	case "markdown-quote":
		return insertBlock(doc, "> "+strings.ReplaceAll(payload, "\n", "\n> "), pos, "\n\n")
	case "table-cell":
		row := pick(r, []string{"| Note | %s |", "| %s | yes | 1.0 |", "| config | `%s` |"})
		table := "| Key | Value |\n|---|---|\n| version | 2.1 |\n" + fmt.Sprintf(row, strings.ReplaceAll(flat, "|", "/")) + "\n| status | stable |"
		return insertBlock(doc, table, pos, "\n\n")
	case "html-comment":
		return insertBlock(doc, "<!-- "+flat+" -->", pos, "\n")
	case "html-hidden":
		style := pick(r, []string{"display:none", "font-size:0", "color:#fff;background:#fff", "position:absolute;left:-9999px"})
		return insertBlock(doc, fmt.Sprintf("<div style=\"%s\">%s</div>", style, flat), pos, "\n")
	case "html-paragraph":
		return insertBlock(doc, "<p>"+flat+"</p>", pos, "\n")
	case "alt-text":
		return insertBlock(doc, fmt.Sprintf("<img src=\"/img/diagram-%d.png\" alt=\"%s\">", r.IntN(9), strings.ReplaceAll(flat, "\"", "'")), pos, "\n")
	case "markdown-image":
		return insertBlock(doc, fmt.Sprintf("![%s](docs/img/screenshot-%d.png)", strings.ReplaceAll(flat, "]", ")"), r.IntN(9)), pos, "\n\n")
	case "json-field":
		v, _ := json.Marshal(flat)
		key := pick(r, []string{"note", "description", "_comment", "message", "notice", "instructions"})
		if i := strings.Index(doc, "{\n"); i >= 0 {
			j := i + 2
			indent := doc[j : j+len(doc[j:])-len(strings.TrimLeft(doc[j:], " "))]
			return doc[:j] + indent + fmt.Sprintf("%q: %s,\n", key, v) + doc[j:]
		}
		return insertBlock(doc, fmt.Sprintf("{\"%s\": %s}", key, v), pos, "\n")
	case "code-comment":
		prefix := pick(r, []string{"// ", "// NOTE: ", "/* ", "// TODO(ai): "})
		line := prefix + flat
		if prefix == "/* " {
			line += " */"
		}
		return insertBlock(doc, line, pos, "\n")
	case "shell-comment":
		return insertBlock(doc, "# "+flat, pos, "\n")
	case "log-line":
		lvl := pick(r, []string{"INFO", "WARN", "ERROR", "level=info"})
		return insertBlock(doc, fmt.Sprintf("2025-11-18T09:%02d:%02dZ %s msg=%q", r.IntN(60), r.IntN(60), lvl, flat), pos, "\n")
	}
	return insertBlock(doc, payload, pos, "\n\n")
}

// insertBlock inserts block at the start, the end, or at the separator
// nearest the middle of doc.
func insertBlock(doc, block, pos, sep string) string {
	switch pos {
	case "start":
		return block + sep + doc
	case "end":
		return doc + sep + block
	}
	mid := len(doc) / 2
	best := -1
	for i := 0; i >= 0 && i < len(doc); {
		j := strings.Index(doc[i:], sep)
		if j < 0 {
			break
		}
		k := i + j + len(sep)
		if best < 0 || abs(k-mid) < abs(best-mid) {
			best = k
		}
		i = k
	}
	if best < 0 {
		best = strings.LastIndexByte(doc[:mid], '\n') + 1
		if best <= 0 {
			return doc + sep + block
		}
	}
	return doc[:best] + block + sep + doc[best:]
}

// insertSentence appends the payload to a sentence of doc, inside its
// paragraph, without a line of its own.
func insertSentence(doc, payload, pos string) string {
	target := map[string]int{"start": 0, "middle": len(doc) / 2, "end": len(doc)}[pos]
	best := -1
	for i := 0; i < len(doc)-1; i++ {
		if doc[i] == '.' && (doc[i+1] == ' ' || doc[i+1] == '\n') {
			if best < 0 || abs(i-target) < abs(best-target) {
				best = i
			}
		}
	}
	if best < 0 {
		return insertBlock(doc, payload, pos, "\n\n")
	}
	return doc[:best+1] + " " + payload + doc[best+1:]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
