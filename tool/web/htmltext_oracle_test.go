package web

import (
	"io"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/bulwark-agents/bulwark/tool/web/internal/htmltok"
)

// oldHTMLText is HTMLText on golang.org/x/net/html's tokenizer, as it was
// before package htmltok: the oracle of FuzzHTMLTextMatchesOracle, which
// checks that the two tokenizers give the same text (hidden and skipped
// elements included), whatever the page.
func oldHTMLText(r io.Reader, base *url.URL) string {
	return htmlText(xnetNext(r), base)
}

// xnetNext returns x/net/html's tokens of r in htmltok's form, comments and
// doctypes left out.
func xnetNext(r io.Reader) func() (htmltok.Token, bool) {
	z := html.NewTokenizer(r)
	return func() (htmltok.Token, bool) {
		for {
			var typ htmltok.Type
			switch z.Next() {
			case html.ErrorToken:
				return htmltok.Token{}, false
			case html.TextToken:
				typ = htmltok.Text
			case html.StartTagToken:
				typ = htmltok.StartTag
			case html.EndTagToken:
				typ = htmltok.EndTag
			case html.SelfClosingTagToken:
				typ = htmltok.SelfClosingTag
			default:
				continue
			}
			t := z.Token()
			tok := htmltok.Token{Type: typ, Data: t.Data}
			for _, a := range t.Attr {
				tok.Attr = append(tok.Attr, htmltok.Attr{Key: a.Key, Val: a.Val})
			}
			return tok, true
		}
	}
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
