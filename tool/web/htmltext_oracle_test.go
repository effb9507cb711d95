package web

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// skipped are elements whose content is never shown to a reader.
var oldSkipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Svg: true, atom.Math: true, atom.Iframe: true, atom.Object: true,
	atom.Select: true, atom.Canvas: true,
}

// blocks are elements that start and end a line.
var oldBlocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Header: true,
	atom.Footer: true, atom.Nav: true, atom.Aside: true, atom.Main: true, atom.Blockquote: true,
	atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Table: true, atom.Form: true, atom.Figure: true, atom.Figcaption: true, atom.Hr: true,
	atom.Address: true, atom.Details: true, atom.Summary: true, atom.Title: true, atom.Body: true,
	atom.Html: true, atom.Fieldset: true, atom.Caption: true,
}

// oldHTMLText is HTMLText as it was on golang.org/x/net/html, kept as the
// oracle of FuzzHTMLTextMatchesOracle. HTMLText turns an HTML page into readable text: scripts, styles and
// hidden elements dropped, blocks on their own lines, headings marked with
// "#", list items with "- ", preformatted text kept as is, and each link
// written as "text [n]" with the numbered list of link targets (resolved
// against base, http and https only) at the end. It reads at most what r
// gives; malformed HTML is read the way browsers read it, token by token.
func oldHTMLText(r io.Reader, base *url.URL) string {
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
			if (oldSkipped[a] || oldIsHidden(tok)) && tt == html.StartTagToken && !oldIsVoid(a) {
				skipName, skipDepth = tok.Data, 1
				continue
			}
			switch {
			case a == atom.Br:
				w.newline()
			case oldIsHeading(a):
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
				if alt := oldAttr(tok, "alt"); strings.TrimSpace(alt) != "" {
					w.words("[image: " + alt + "]")
				}
			case a == atom.A:
				n := 0
				if u := resolveLink(base, oldAttr(tok, "href")); u != "" {
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
			case oldBlocks[a]:
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
			case oldIsHeading(a) || oldBlocks[a]:
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

func oldIsHeading(a atom.Atom) bool {
	switch a {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		return true
	}
	return false
}

func oldIsVoid(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input,
		atom.Link, atom.Meta, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}

// isHidden reports whether an element is hidden from a reader by its
// attributes: hidden, aria-hidden="true", or an inline style that hides it.
func oldIsHidden(tok html.Token) bool {
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

func oldAttr(tok html.Token, key string) string {
	for _, a := range tok.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// hostileHTML are inputs that have tripped HTML tokenizers: they seed
// FuzzHTMLTextMatchesOracle.
var hostileHTML = []string{
	"a<!-- unclosed comment <p>b</p>",
	"a<!--> b <!---> c <!-- --!> d <!-- -- > e -->f",
	"<!DOCTYPE html><!doctype x>a<!DOCTYP<?xml x?>b<! bogus >c</>d</ x>e",
	"<script><!--<script>x</script>y</script>z",
	"<script><!-- </script>shown",
	"<script>a</script >b</SCRIPT >c<script>d</SCRIPT/e>f",
	"<script>a</scriptx>b</script\n>c",
	"<script><!--<script></script>--></script>after",
	"<script><!--<SCRIPT >--!></script>x</script>y",
	"<style>p{}</style  >a<STYLE>b</style",
	"<p a=b c='d' e=\"f\" g = h i=/>x<br/><p a=/>y",
	"<a href=https://e.com/?a=1&copy=2&amp;b=3&notit;c>x</a>",
	"<a href='https://e.com/&lt&gt=&ampx&amp'>x</a>",
	"a\x00b<script>\x00</script><p \x00=\x00>c\x00</p><textarea>\x00&amp;</textarea>",
	"a\r\nb\rc\n\rd<pre>\r\n x\r y</pre><img alt='1\r\n2'>",
	"<textarea><p>not a tag</p>&lt;b&gt;</textarea>after<title>t&amp;<b>x</b></title>",
	"<xmp><b>&amp;</b></xmp><noembed>x</noembed><noframes>y</noframes><iframe>z</iframe>w",
	"<plaintext><p>all text</p></plaintext>",
	"&amp;lt; &lt &lt; &ltx &notin &notit; &copy2024 &#65 &#x41; &#X41 &#; &#x; &#xZ &#",
	"&#0; &#128; &#x9F; &#xD800; &#xDFFF; &#x110000; &#99999999999999999999; &#x7FFFFFFFFFFF; &#1114111;",
	"&NotEqualTilde; &fjlig; &semi; &amp &AMP &Amp; &ampamp;",
	"<div style='DISPLAY : NONE'>a</div><div style=\"visibility:\nHidden\">b</div><div STYLE=display:none>c</div>d",
	"<div hidden><div>x<div hidden>y</div>z</div>w</div>shown<DIV Hidden>q</div>",
	"<div aria-hidden=' TRUE '>a</div><div aria-hidden=false>b</div>",
	"<p a b c d e f g h i j k l m n o p q r s t u v w x y z a b c href=x style=display:none>x</p>",
	"<a href=x href=https://e.com/ HREF=y>dup</a>",
	"<a\thref\n=\n'https://e.com/'\n>x</a\n>",
	"<",
	"</",
	"<a",
	"<a href='x",
	"<!",
	"<!-",
	"<!DOC",
	"<script>",
	"<script><!--",
	"<svg><title>x</title></svg><math>y</math>z",
	"<select><option>a</select>b<canvas>c</canvas>d<object>e</object>f<template>g</template>h",
	"<h1>a</h1><h7>b</h7><li>c<dt>d<dd>e<tr><td>f<th>g",
}

func FuzzHTMLTextMatchesOracle(f *testing.F) {
	for _, tt := range htmlTextTests {
		f.Add(tt.in)
	}
	for _, in := range hostileHTML {
		f.Add(in)
	}
	base, _ := url.Parse("https://base.test/dir/page")
	f.Fuzz(func(t *testing.T, in string) {
		got := HTMLText(strings.NewReader(in), base)
		want := oldHTMLText(strings.NewReader(in), base)
		if got != want {
			t.Fatalf("HTMLText(%q) = %q, x/net/html oracle = %q", in, got, want)
		}
	})
}

func TestHTMLTextMatchesOracle(t *testing.T) {
	base, _ := url.Parse("https://base.test/dir/page")
	for _, in := range hostileHTML {
		got := HTMLText(strings.NewReader(in), base)
		want := oldHTMLText(strings.NewReader(in), base)
		if got != want {
			t.Errorf("HTMLText(%q) = %q, x/net/html oracle = %q", in, got, want)
		}
	}
}
