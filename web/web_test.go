package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// serve runs a request through a mux of every page and the assets, as
// package server registers them, and writes a handler's error as its
// status alone.
func serve(t *testing.T, u *UI, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	wrap := func(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				code := http.StatusInternalServerError
				if bulwark.ErrorKind(err) == bulwark.NotFound {
					code = http.StatusNotFound
				}
				w.WriteHeader(code)
			}
		}
	}
	mux.Handle("GET "+AssetsPath, wrap(u.ServeAsset))
	for _, p := range Pages {
		mux.Handle("GET "+p.Path, wrap(u.ServePage(p)))
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

func mustNew(t *testing.T) *UI {
	t.Helper()
	u, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPagesCSP checks that every page is HTML under the strict policy,
// loads its script and stylesheet from the versioned asset path, and has
// no inline script, style or event handler.
func TestPagesCSP(t *testing.T) {
	t.Parallel()
	u := mustNew(t)
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	for _, p := range Pages {
		path := strings.ReplaceAll(strings.TrimSuffix(p.Path, "{$}"), "{id}", "t_123")
		w := serve(t, u, "GET", path)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, w.Code)
			continue
		}
		if got := w.Header().Values("Content-Security-Policy"); !slices.Contains(got, CSP) {
			t.Errorf("GET %s: Content-Security-Policy = %q, want %q among them", path, got, CSP)
		}
		if got := w.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type = %q", path, got)
		}
		body := w.Body.String()
		if m := inline.FindString(body); m != "" {
			t.Errorf("GET %s: the page has inline code or style: %q", path, m)
		}
		for _, want := range []string{`<script type="module" src="` + u.AssetBase() + `/app.js">`, `data-page="` + p.Name + `"`, `href="` + u.AssetBase() + `/app.css"`,
			`href="/api/v1/openapi.json"`} { // the API reference, in the navigation
			if !strings.Contains(body, want) {
				t.Errorf("GET %s: the page lacks %s", path, want)
			}
		}
	}
}

// TestCSPDirectives checks the promises of the policy itself.
func TestCSPDirectives(t *testing.T) {
	t.Parallel()
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'", "require-trusted-types-for 'script'", "trusted-types 'none'"} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP lacks %q", want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "data:", "*", "http:", "https:"} {
		if strings.Contains(CSP, bad) {
			t.Errorf("CSP allows %q", bad)
		}
	}
}

var escapeTests = []struct {
	path   string // as sent, percent-encoded
	unsafe string // must not appear in the page
}{
	{"/tasks/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "<script>alert(1)"},
	{"/tasks/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", `<img src=x`},
	{"/tasks/x%27%20onmouseover%3D%27alert(1)", `' onmouseover='`},
	{"/tasks/%3C%2Fbody%3E/files", "</body><"},
}

// TestPageEscapesID checks that the one value of the request a page
// shows, the {id} of its path, is escaped.
func TestPageEscapesID(t *testing.T) {
	t.Parallel()
	u := mustNew(t)
	for _, tt := range escapeTests {
		w := serve(t, u, "GET", tt.path)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", tt.path, w.Code)
			continue
		}
		if strings.Contains(w.Body.String(), tt.unsafe) {
			t.Errorf("GET %s: the page holds %q unescaped:\n%s", tt.path, tt.unsafe, w.Body)
		}
		if !strings.Contains(w.Body.String(), "data-id=") {
			t.Errorf("GET %s: the page has no data-id", tt.path)
		}
	}
}

var assetTests = []struct {
	name, ctype string
}{
	{"app.js", "text/javascript; charset=utf-8"},
	{"task.js", "text/javascript; charset=utf-8"},
	{"app.css", "text/css; charset=utf-8"},
	{"icon.svg", "image/svg+xml"},
}

// TestAssets checks types, caching and revalidation of the assets.
func TestAssets(t *testing.T) {
	t.Parallel()
	u := mustNew(t)
	for _, tt := range assetTests {
		w := serve(t, u, "GET", u.AssetBase()+"/"+tt.name)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", tt.name, w.Code)
			continue
		}
		if got := w.Header().Get("Content-Type"); got != tt.ctype {
			t.Errorf("GET %s: Content-Type = %q, want %q", tt.name, got, tt.ctype)
		}
		if got := w.Header().Get("Cache-Control"); !strings.Contains(got, "immutable") {
			t.Errorf("GET %s: Cache-Control = %q, want immutable under the current version", tt.name, got)
		}
		if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options = %q", tt.name, got)
		}
		old := serve(t, u, "GET", "/assets/0ld/"+tt.name)
		if old.Code != http.StatusOK || old.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("GET an old version of %s = %d, Cache-Control %q; want 200, no-cache", tt.name, old.Code, old.Header().Get("Cache-Control"))
		}
	}
	for _, p := range []string{"/assets/x", "/assets/" + u.version + "/nope.js", "/assets/" + u.version + "/../web.go",
		"/assets/" + u.version + "/", "/assets/" + u.version + "/%2e%2e/templates/page.html"} {
		if w := serve(t, u, "GET", p); w.Code == http.StatusOK {
			t.Errorf("GET %s = %d, want a refusal (404, or the mux's redirect of a path with ..)", p, w.Code)
		}
	}
}

// sinks are the ways into the DOM or the JS engine that take strings as
// code or markup. The modules must use none; Trusted Types would make
// them throw anyway.
var sinks = regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*['"` + "`" + `]|setInterval\(\s*['"` + "`" + `]|DOMParser|createContextualFragment|srcdoc|\.on[a-z]+\s*=\s*['"` + "`" + `]`)

// TestModulesUseNoHTMLSinks reads every module for HTML and code sinks.
func TestModulesUseNoHTMLSinks(t *testing.T) {
	t.Parallel()
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			if m := sinks.FindString(line); m != "" {
				t.Errorf("%s:%d uses %q: build nodes with dom.js's h() and textContent instead", p, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEveryPageHasModule checks that each page's module exists and that
// app.js loads it.
func TestEveryPageHasModule(t *testing.T) {
	t.Parallel()
	app, err := fs.ReadFile(files, "static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Pages {
		if _, err := fs.Stat(files, "static/"+p.Name+".js"); err != nil {
			t.Errorf("page %s: no module static/%s.js", p.Path, p.Name)
		}
		if !strings.Contains(string(app), "import('./"+p.Name+".js')") {
			t.Errorf("page %s: app.js does not load %s.js", p.Path, p.Name)
		}
	}
}

// TestPageRefusesDotIDs: /tasks/%2e%2e is no task's page: its script
// would put ".." in the API paths it calls (/api/v1/tasks/../cancel).
func TestPageRefusesDotIDs(t *testing.T) {
	t.Parallel()
	u := mustNew(t)
	for _, path := range []string{"/tasks/%2e%2e", "/tasks/%2E%2E/files", "/tasks/%2e", "/tasks/.%2e/files"} {
		if w := serve(t, u, "GET", path); w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, w.Code)
		}
	}
	if w := serve(t, u, "GET", "/tasks/t_..x"); w.Code != http.StatusOK {
		t.Errorf("GET /tasks/t_..x = %d, want 200", w.Code)
	}
}
