package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/bulwark-agents/bulwark/web"
)

// TestPageShellOverHTTP: a page asked for over a real connection, with a
// hostile {id} of every kind (markup, quotes, comment and CDATA openers,
// NUL, invalid UTF-8, U+2028, template syntax), is HTML under the page's
// strict CSP with nosniff and frame denial, its only scripts are the
// module from the asset path, and the id is the data-id attribute's
// value, whole, and nowhere an element or attribute of its own.
func TestPageShellOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	hs := httptest.NewServer(e.srv.Handler())
	defer hs.Close()
	for path, id := range map[string]string{
		"/tasks/%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E":           "</script><script>alert(1)</script>",
		"/tasks/%22%20onload%3D%22alert(1)%22%20x%3D%22/files":                `" onload="alert(1)" x="`,
		"/tasks/%27%20onload%3D%27alert(1)":                                   `' onload='alert(1)`,
		"/tasks/%60%3C!--%3C!%5BCDATA%5B%26amp%3B%26%2334%3B":                 "`<!--<![CDATA[&amp;&#34;",
		"/tasks/a%00b%FF%E2%80%A8%E2%80%A9c":                                  "a\ufffdb\xff\u2028\u2029c",
		"/tasks/%7B%7Bid%7D%7D%7B%7B.Title%7D%7D%3E%3Cimg%20src%3Dx%3E/files": "{{id}}{{.Title}}><img src=x>",
	} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("GET %s = %d %s", path, resp.StatusCode, h.Get("Content-Type"))
			continue
		}
		if !slices.Contains(h.Values("Content-Security-Policy"), web.CSP) || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v; want the page's CSP, nosniff and DENY", path, h)
		}
		var ids, scripts []string
		z := html.NewTokenizer(strings.NewReader(string(body)))
		for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
			tok := z.Token()
			for _, a := range tok.Attr {
				if a.Key == "data-id" {
					ids = append(ids, a.Val)
				}
				if strings.HasPrefix(a.Key, "on") || a.Key == "x" {
					t.Errorf("GET %s: an attribute %s=%q on <%s>", path, a.Key, a.Val, tok.Data)
				}
			}
			if tt == html.StartTagToken && (tok.Data == "script" || tok.Data == "img" && !strings.Contains(tok.String(), "/icon.svg")) {
				scripts = append(scripts, tok.String())
			}
		}
		if len(ids) != 1 || ids[0] != id {
			t.Errorf("GET %s: data-id %q, want %q", path, ids, id)
		}
		if len(scripts) != 1 || !strings.Contains(scripts[0], `type="module"`) || !strings.Contains(scripts[0], `src="/assets/`) {
			t.Errorf("GET %s: scripts and images %q, want the module alone", path, scripts)
		}
	}
}
