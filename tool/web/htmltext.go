package web

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxLinks caps the link list of one page; further links keep their text
// but get no number.
const maxLinks = 200

// skipped are elements whose content is never shown to a reader.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Svg: true, atom.Math: true, atom.Iframe: true, atom.Object: true,
	atom.Select: true, atom.Canvas: true,
}

// blocks are elements that start and end a line.
var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Header: true,
	atom.Footer: true, atom.Nav: true, atom.Aside: true, atom.Main: true, atom.Blockquote: true,
	atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Table: true, atom.Form: true, atom.Figure: true, atom.Figcaption: true, atom.Hr: true,
	atom.Address: true, atom.Details: true, atom.Summary: true, atom.Title: true, atom.Body: true,
	atom.Html: true, atom.Fieldset: true, atom.Caption: true,
}

// HTMLText turns an HTML page into readable text: scripts, styles and
// hidden elements dropped, blocks on their own lines, headings marked with
// "#", list items with "- ", preformatted text kept as is, and each link
// written as "text [n]" with the numbered list of link targets (resolved
// against base, http and https only) at the end. It reads at most what r
// gives; malformed HTML is read the way browsers read it, token by token.
func HTMLText(r io.Reader, base *url.URL) string {
	w := &textWriter{}
	z := html.NewTokenizer(r)
	var (
		skipName  string // the element being skipped, while skipDepth > 0
		skipDepth int
		pre       int
		links     []string
		linkIndex = map[string]int{}
		inLink    []int // link numbers of open <a> elements; 0 = no number
	)
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		tok := z.Token()
		if skipDepth > 0 {
			switch {
			case tok.Data != skipName:
			case tt == html.StartTagToken:
				skipDepth++
			case tt == html.EndTagToken:
				skipDepth--
			}
			continue
		}
		switch tt {
		case html.TextToken:
			if pre > 0 {
				w.raw(tok.Data)
			} else {
				w.words(tok.Data)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			a := tok.DataAtom
			if (skipped[a] || isHidden(tok)) && tt == html.StartTagToken && !isVoid(a) {
				skipName, skipDepth = tok.Data, 1
				continue
			}
			switch {
			case a == atom.Br:
				w.newline()
			case isHeading(a):
				w.block()
				w.raw(strings.Repeat("#", int(tok.Data[1]-'0')) + " ")
			case a == atom.Li:
				w.newline()
				w.raw("- ")
			case a == atom.Tr || a == atom.Dt || a == atom.Dd:
				w.newline()
			case a == atom.Pre:
				w.block()
				pre++
			case a == atom.Td || a == atom.Th:
				w.space()
			case a == atom.Img:
				if alt := attr(tok, "alt"); strings.TrimSpace(alt) != "" {
					w.words("[image: " + alt + "]")
				}
			case a == atom.A:
				n := 0
				if u := resolveLink(base, attr(tok, "href")); u != "" {
					if i, ok := linkIndex[u]; ok {
						n = i
					} else if len(links) < maxLinks {
						links = append(links, u)
						n = len(links)
						linkIndex[u] = n
					}
				}
				if tt == html.StartTagToken {
					inLink = append(inLink, n)
				}
			case blocks[a]:
				w.block()
			}
		case html.EndTagToken:
			a := tok.DataAtom
			switch {
			case a == atom.Pre:
				pre = max(0, pre-1)
				w.block()
			case a == atom.A:
				if len(inLink) > 0 {
					if n := inLink[len(inLink)-1]; n > 0 {
						w.space()
						w.words(fmt.Sprintf("[%d]", n))
					}
					inLink = inLink[:len(inLink)-1]
				}
			case a == atom.Li || a == atom.Tr || a == atom.Dt || a == atom.Dd:
				w.newline()
			case isHeading(a) || blocks[a]:
				w.block()
			}
		}
	}
	out := w.String()
	if len(links) > 0 {
		var b strings.Builder
		b.WriteString(out)
		b.WriteString("\n\nLinks:\n")
		for i, l := range links {
			fmt.Fprintf(&b, "[%d] %s\n", i+1, l)
		}
		out = strings.TrimSuffix(b.String(), "\n")
	}
	return out
}

func isHeading(a atom.Atom) bool {
	switch a {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		return true
	}
	return false
}

func isVoid(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input,
		atom.Link, atom.Meta, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}

// isHidden reports whether an element is hidden from a reader by its
// attributes: hidden, aria-hidden="true", or an inline style that hides it.
func isHidden(tok html.Token) bool {
	for _, a := range tok.Attr {
		switch a.Key {
		case "hidden":
			return true
		case "aria-hidden":
			if strings.EqualFold(strings.TrimSpace(a.Val), "true") {
				return true
			}
		case "style":
			s := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.Contains(s, "display:none") || strings.Contains(s, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

func attr(tok html.Token, key string) string {
	for _, a := range tok.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// resolveLink returns href resolved against base when it is an http or
// https URL, and "" otherwise (javascript:, mailto:, fragments, junk).
func resolveLink(base *url.URL, href string) string {
	href = strings.TrimSpace(href)
	if href == "" || strings.HasPrefix(href, "#") {
		return ""
	}
	u, err := url.Parse(href)
	if err != nil {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return ""
	}
	u.User = nil
	return u.String()
}

// textWriter collects text with collapsed spaces and at most one blank
// line between blocks.
type textWriter struct {
	b        strings.Builder
	pendingN int  // newlines owed before the next text
	pendingS bool // a space owed before the next text
	started  bool
}

func (w *textWriter) flush() {
	if !w.started {
		w.pendingN, w.pendingS = 0, false
		return
	}
	if w.pendingN > 0 {
		w.b.WriteString(strings.Repeat("\n", min(w.pendingN, 2)))
	} else if w.pendingS {
		w.b.WriteByte(' ')
	}
	w.pendingN, w.pendingS = 0, false
}

// words writes s with runs of white space collapsed to one space.
func (w *textWriter) words(s string) {
	if s == "" {
		return
	}
	if isSpace(s[0]) {
		w.space()
	}
	for i, f := range strings.Fields(s) {
		if i > 0 {
			w.space()
		}
		w.flush()
		w.b.WriteString(f)
		w.started = true
	}
	if isSpace(s[len(s)-1]) {
		w.space()
	}
}

// raw writes s as it is (preformatted text, markers).
func (w *textWriter) raw(s string) {
	if s == "" {
		return
	}
	w.flush()
	w.b.WriteString(s)
	w.started = true
}

func (w *textWriter) space() { w.pendingS = true }

func (w *textWriter) newline() { w.pendingN = max(w.pendingN, 1) }

func (w *textWriter) block() { w.pendingN = 2 }

func (w *textWriter) String() string { return strings.TrimSpace(w.b.String()) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
