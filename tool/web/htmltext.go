package web

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/bulwark-agents/bulwark/tool/web/internal/htmltok"
)

// maxLinks caps the link list of one page; further links keep their text
// but get no number.
const maxLinks = 200

// skipped reports whether an element's content is never shown to a reader.
func skipped(name string) bool {
	switch name {
	case "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "select", "canvas":
		return true
	}
	return false
}

// isBlock reports whether an element starts and ends a line.
func isBlock(name string) bool {
	switch name {
	case "p", "div", "section", "article", "header", "footer", "nav", "aside", "main", "blockquote",
		"ul", "ol", "dl", "table", "form", "figure", "figcaption", "hr",
		"address", "details", "summary", "title", "body", "html", "fieldset", "caption":
		return true
	}
	return false
}

// HTMLText turns an HTML page into readable text: scripts, styles and
// hidden elements dropped, blocks on their own lines, headings marked with
// "#", list items with "- ", preformatted text kept as is, and each link
// written as "text [n]" with the numbered list of link targets (resolved
// against base, http and https only) at the end. It reads all of r (the
// caller bounds it); malformed HTML is read the way browsers read it,
// token by token (package htmltok).
func HTMLText(r io.Reader, base *url.URL) string {
	page, _ := io.ReadAll(r)
	return htmlText(htmltok.New(page).Next, base)
}

// htmlText is HTMLText over a source of tokens: next returns the next one,
// and false at the end. (Its test feeds it x/net/html's tokens, to compare
// the text the two tokenizers give.)
func htmlText(next func() (htmltok.Token, bool), base *url.URL) string {
	w := &textWriter{}
	var (
		skipName  string // the element being skipped, while skipDepth > 0
		skipDepth int
		pre       int
		links     []string
		linkIndex = map[string]int{}
		inLink    []int // link numbers of open <a> elements; 0 = no number
	)
	for {
		tok, ok := next()
		if !ok {
			break
		}
		if skipDepth > 0 {
			switch {
			case tok.Type == htmltok.Text || tok.Data != skipName:
			case tok.Type == htmltok.StartTag:
				skipDepth++
			case tok.Type == htmltok.EndTag:
				skipDepth--
			}
			continue
		}
		name := tok.Data
		switch tok.Type {
		case htmltok.Text:
			if pre > 0 {
				w.raw(tok.Data)
			} else {
				w.words(tok.Data)
			}
		case htmltok.StartTag, htmltok.SelfClosingTag:
			if (skipped(name) || isHidden(tok)) && tok.Type == htmltok.StartTag && !isVoid(name) {
				skipName, skipDepth = name, 1
				continue
			}
			switch {
			case name == "br":
				w.newline()
			case isHeading(name):
				w.block()
				w.raw(strings.Repeat("#", int(name[1]-'0')) + " ")
			case name == "li":
				w.newline()
				w.raw("- ")
			case name == "tr" || name == "dt" || name == "dd":
				w.newline()
			case name == "pre":
				w.block()
				pre++
			case name == "td" || name == "th":
				w.space()
			case name == "img":
				if alt := attr(tok, "alt"); strings.TrimSpace(alt) != "" {
					w.words("[image: " + alt + "]")
				}
			case name == "a":
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
				if tok.Type == htmltok.StartTag {
					inLink = append(inLink, n)
				}
			case isBlock(name):
				w.block()
			}
		case htmltok.EndTag:
			switch {
			case name == "pre":
				pre = max(0, pre-1)
				w.block()
			case name == "a":
				if len(inLink) > 0 {
					if n := inLink[len(inLink)-1]; n > 0 {
						w.space()
						w.words(fmt.Sprintf("[%d]", n))
					}
					inLink = inLink[:len(inLink)-1]
				}
			case name == "li" || name == "tr" || name == "dt" || name == "dd":
				w.newline()
			case isHeading(name) || isBlock(name):
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

func isHeading(name string) bool {
	switch name {
	case "h1", "h2", "h3", "h4", "h5", "h6":
		return true
	}
	return false
}

// isVoid reports whether an element has no content and no end tag.
func isVoid(name string) bool {
	switch name {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr":
		return true
	}
	return false
}

// isHidden reports whether an element is hidden from a reader by its
// attributes: hidden, aria-hidden="true", or an inline style that hides it.
func isHidden(tok htmltok.Token) bool {
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

func attr(tok htmltok.Token, key string) string {
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
