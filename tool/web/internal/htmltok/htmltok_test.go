package htmltok

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// tokenTests are inputs for which the tokens must be the ones
// x/net/html's tokenizer gives (comments and doctypes left out).
var tokenTests = []string{
	`<P CLASS="x" Id=y data-A='z'>t</p>`,
	`<a href="?a=1&copy=2&amp;b=3&notit;c&lt=4&gt">&notit; &copy2024</a>`,
	`<a title='&ampx &amp &AMP; &#x41 &#0; &#x110000 &#99999999999'>`,
	"<p a=b a=c A=d \x00=\x00 \x00=e>",
	"<img alt='a\r\nb\rc'/><br/><p a=/><p a='/'/>",
	"<textarea><b>&amp;</b>\x00</textarea><title>&lt;</title><style>&lt;</style>",
	"<script><!--<script></script>--></script>x<script>a</SCRIPT\t>",
	"<plaintext></plaintext>&amp;",
	"<!DOCTYPE html><!-- c --><?pi?><![CDATA[x]]></ x>y</>z",
	"a<b", "a</", "<a href=", "<!DOCTY", "<script><!-- -",
	// Script data escape states, where x/net/html leaves the escaped
	// less-than sign state for script data on anything but '/' or a letter.
	"<script><!--<<script>x</script>y",
	"<script><!--<<!--<script></script>y</script>z",
	"<script><!--< <script></script>y</script>z",
	"<script><!--<-->x<script></script>y</script>z",
	"<script><!--<scrip <script></script>y</script>z",
	"<script><!--<script>< </script>y</script>z",
	"<script><!--<script></-->x</script>y</script>z",
	"<A Id Id=/><b c=d/>",
	"&#0 &#x; &#; &#x80 &#xD800; &#1114112;",
}

// xnetTokens returns the tokens of s as x/net/html gives them, in the
// form of tokens below.
func xnetTokens(s string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return b.String()
		}
		tok := z.Token()
		switch tt {
		case html.TextToken:
			fmt.Fprintf(&b, "text %q\n", tok.Data)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			fmt.Fprintf(&b, "%v %q", tt, tok.Data)
			for _, a := range tok.Attr {
				fmt.Fprintf(&b, " %q=%q", a.Key, a.Val)
			}
			b.WriteByte('\n')
		}
	}
}

func tokens(s string) string {
	var b strings.Builder
	z := New([]byte(s))
	for {
		tok, ok := z.Next()
		if !ok {
			return b.String()
		}
		switch tok.Type {
		case Text:
			fmt.Fprintf(&b, "text %q\n", tok.Data)
		default:
			fmt.Fprintf(&b, "%v %q", [...]string{StartTag: "StartTag", EndTag: "EndTag", SelfClosingTag: "SelfClosingTag"}[tok.Type], tok.Data)
			for _, a := range tok.Attr {
				fmt.Fprintf(&b, " %q=%q", a.Key, a.Val)
			}
			b.WriteByte('\n')
		}
	}
}

func TestTokensMatchXNet(t *testing.T) {
	for _, in := range tokenTests {
		if got, want := tokens(in), xnetTokens(in); got != want {
			t.Errorf("tokens(%q) =\n%s\nx/net/html gives\n%s", in, got, want)
		}
	}
}

func FuzzTokensMatchXNet(f *testing.F) {
	for _, in := range tokenTests {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := tokens(in), xnetTokens(in); got != want {
			t.Fatalf("tokens(%q) =\n%s\nx/net/html gives\n%s", in, got, want)
		}
	})
}

func TestUnescapeAttribute(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a&amp;b", "a&b"},
		{"?x=1&copy=2", "?x=1&copy=2"},
		{"&copy2024", "&copy2024"},
		{"&copy;2024", "©2024"},
		{"&copy", "©"},
		{"&ampx;", "&ampx;"},
		{"&NotEqualTilde;", "\u2242\u0338"},
		{"&#99999999999;", "\uFFFD"},
		{"&#x80;", "€"},
	} {
		if got := unescape(tt.in, true); got != tt.want {
			t.Errorf("unescape(%q, attribute) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := unescape("&copy2024 &ampx", false); got != "©2024 &x" {
		t.Errorf("unescape(text) = %q, want %q", got, "©2024 &x")
	}
}
