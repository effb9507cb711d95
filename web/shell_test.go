package web

import (
	"bytes"
	"html/template"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// tokens is what an HTML parser reads from s: each token's type, tag or
// text, and attributes, with entities decoded, so that two escapings of
// the same value compare equal.
func tokens(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		tok := z.Token()
		line := tt.String() + " " + tok.Data
		for _, a := range tok.Attr {
			line += " " + a.Key + "=" + a.Val
		}
		out = append(out, line)
	}
}

// TestShellMatchesHTMLTemplate: every page's shell, for hostile ids too,
// reads as what html/template made of the shell this package used before
// (testdata/page.tmpl): the same elements, attributes and text, and no
// id breaks out of its attribute.
func TestShellMatchesHTMLTemplate(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/page.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New("").Parse(string(src)))
	u := mustNew(t)
	ids := []string{"", "t_123", `"><script>alert(1)</script>`, `' onmouseover='x`, "a&b<c>d", "&amp;&#x27;", "+ü%20\x00\t", "}}{{.Title}}"}
	for _, p := range Pages {
		for _, id := range ids {
			d := pageData{Page: p, Assets: u.AssetBase(), ID: id}
			var want bytes.Buffer
			if err := tmpl.ExecuteTemplate(&want, "page", d); err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			renderShell(&got, u.shell, d)
			w, g := tokens(t, want.String()), tokens(t, got.String())
			if strings.Join(w, "\n") != strings.Join(g, "\n") {
				t.Errorf("page %s, id %q: the shell reads\n%s\nwant (html/template)\n%s", p.Name, id, strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
			if id != "" && !strings.Contains(strings.Join(g, "\n"), " data-id="+strings.ReplaceAll(id, "\x00", "\ufffd")) {
				t.Errorf("page %s, id %q: no data-id attribute holding the id:\n%s", p.Name, id, got.String())
			}
		}
	}
}

func TestParseShellRefuses(t *testing.T) {
	for _, src := range []string{"<p>{{title</p>", "<p>{{.Title}}</p>", "<p>{{current}}</p>", "<p>{{id x}}</p>", "{{script}}"} {
		if _, err := parseShell(src); err == nil {
			t.Errorf("parseShell(%q) = nil error", src)
		}
	}
	parts, err := parseShell("\n<a{{current tasks}}>{{title}}</a>\n")
	if err != nil || len(parts) != 5 || parts[1] != (shellPart{slot: "current", arg: "tasks"}) || parts[4].text != "</a>" {
		t.Errorf("parseShell = %+v, %v", parts, err)
	}
}

// hostileValues are values for every field of the shell: markup, comment
// and script openers, quotes of every kind, entities, JavaScript line
// breaks, NUL, invalid UTF-8, template syntax of both engines, and long.
var hostileValues = []string{
	"", "x", `</script><script>alert(1)</script>`, `<!--`, `-->`, `<![CDATA[`, `"`, `'`, "`", `&`, `&amp;`, `&#34;`,
	"\u2028\u2029", "\x00", "a\x00b", "\xff\xfe", "\xed\xa0\x80", "\xc0\xaf", `" onload="alert(1)`, `' onload='alert(1)`,
	"` onload=`alert(1)", `javascript:alert(1)`, `</title><script>alert(1)</script>`, `</body>`, `{{title}}`, `{{.Title}}`,
	"\t\n\r\f\v ", `\u003c`, `%3Cscript%3E`, "\ufeff", "\u202e", `=`, `<`, `>`, strings.Repeat(`"<&'>`, 4000),
}

// FuzzShellMatchesHTMLTemplate is TestShellMatchesHTMLTemplate for any
// title, name, id and section: the shell reads as html/template's
// rendering of the previous shell, element for element and attribute for
// attribute, and a value stays in its place (the title's text, the
// data-page and data-id attributes) whatever it holds. The asset base is
// a URL, where html/template also filters schemes and percent-encodes:
// it is not a value of the request, and TestAssetBaseIsPlain keeps it a
// path that needs neither.
func FuzzShellMatchesHTMLTemplate(f *testing.F) {
	for i, v := range hostileValues {
		w := hostileValues[(i+1)%len(hostileValues)]
		f.Add("Task", "task", v, "tasks")
		f.Add(v, w, v, "tasks")
		f.Add(w, v, "", v)
	}
	src, err := os.ReadFile("testdata/page.tmpl")
	if err != nil {
		f.Fatal(err)
	}
	tmpl := template.Must(template.New("").Parse(string(src)))
	u, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, title, name, id, section string) {
		d := pageData{Page: Page{Title: title, Name: name, Section: section}, Assets: u.AssetBase(), ID: id}
		var want bytes.Buffer
		if err := tmpl.ExecuteTemplate(&want, "page", d); err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		renderShell(&got, u.shell, d)
		gt := tokens(t, got.String())
		w, g := strings.Join(tokens(t, want.String()), "\n"), strings.Join(gt, "\n")
		if w != g {
			t.Fatalf("title %q, name %q, id %q, section %q: the shell reads\n%s\nwant (html/template)\n%s", title, name, id, section, g, w)
		}
		// The values in their places, read as a browser reads them: CR
		// and CR LF are LF, and NUL is U+FFFD in an attribute and in a
		// title.
		nul := strings.NewReplacer("\r\n", "\n", "\r", "\n", "\x00", "\ufffd").Replace
		want2 := []string{"StartTag body data-page=" + nul(name), "Text " + nul(title) + " · Bulwark"}
		if id != "" {
			want2[0] += " data-id=" + nul(id)
		}
		for _, line := range want2 {
			if !slices.Contains(gt, line) {
				t.Fatalf("title %q, name %q, id %q: no token %q in\n%s", title, name, id, line, g)
			}
		}
	})
}

// TestAssetBaseIsPlain: the asset base, written into href and src
// escaped for HTML alone, is a path html/template would have left as it
// is (no scheme, nothing to percent-encode).
func TestAssetBaseIsPlain(t *testing.T) {
	u := mustNew(t)
	if !regexp.MustCompile(`^/assets/[0-9a-f]{8,64}$`).MatchString(u.AssetBase()) {
		t.Errorf("AssetBase() = %q; the shell writes it into URLs escaped for HTML only, so it must stay a plain path", u.AssetBase())
	}
}
