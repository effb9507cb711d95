package web

import (
	"bytes"
	"html/template"
	"os"
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
