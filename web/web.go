// Package web is Bulwark's browser UI, embedded in the binary: one
// page shell per page (templates/page.html, see shell.go), and the ES modules, stylesheet and
// icon it loads. Pages hold no data: each page's module reads the JSON
// API with the session cookie and builds the DOM with createElement and
// textContent only, so no text of a model, a tool, a web page or a user
// ever becomes markup. Every page is served under a strict
// Content-Security-Policy (CSP): scripts and styles only from this
// origin, nothing inline, no eval, and Trusted Types required, so that
// even a slip into an HTML sink (innerHTML) fails instead of rendering.
//
// The package serves; it does not route. package server registers
// Pages and the assets in its route table (server/pages.go) as browser
// routes, behind the same middleware as every other route.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
)

//go:embed templates/page.html static
var files embed.FS

// CSP is the Content-Security-Policy of every page, added to the
// server's default for documents (see setPageHeaders) and stricter. Nothing may load from another origin;
// no inline script, style or event handler runs; eval is off; and
// require-trusted-types-for makes the browser refuse strings in HTML
// sinks (innerHTML, insertAdjacentHTML, document.write), with no policy
// allowed to bless one (trusted-types 'none').
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// Page is one page of the UI.
type Page struct {
	Path  string // the ServeMux path pattern: "/tasks/{id}"
	Name  string // the page's module (static/NAME.js) and <body data-page>
	Title string
	// Section is the navigation entry the page belongs to.
	Section string
}

// Pages are the pages of the UI. A page that takes an id names it {id}
// in its Path; its value reaches the page as <body data-id>.
var Pages = []Page{
	{Path: "/{$}", Name: "tasks", Title: "Tasks", Section: "tasks"},
	{Path: "/login", Name: "login", Title: "Log in"},
	{Path: "/tasks", Name: "tasks", Title: "Tasks", Section: "tasks"},
	{Path: "/tasks/new", Name: "newtask", Title: "New task", Section: "new"},
	{Path: "/tasks/{id}", Name: "task", Title: "Task", Section: "tasks"},
	{Path: "/tasks/{id}/files", Name: "files", Title: "Task files", Section: "tasks"},
	{Path: "/settings", Name: "settings", Title: "Settings", Section: "settings"},
	{Path: "/keys", Name: "keys", Title: "API keys", Section: "keys"},
	{Path: "/schedules", Name: "schedules", Title: "Schedules", Section: "schedules"},
	{Path: "/memories", Name: "memories", Title: "Memory", Section: "memories"},
	{Path: "/secrets", Name: "secrets", Title: "Secrets", Section: "secrets"},
	{Path: "/skills", Name: "skills", Title: "Skills", Section: "skills"},
	{Path: "/users", Name: "users", Title: "Users", Section: "users"},
	{Path: "/audit", Name: "audit", Title: "Audit log", Section: "audit"},
	{Path: "/security", Name: "security", Title: "Security", Section: "security"},
	{Path: "/account", Name: "account", Title: "Account", Section: "account"},
}

// AssetsPath is the pattern of the asset route. Asset URLs are
// /assets/VERSION/FILE, VERSION being a hash of every asset, so browsers
// may cache them for good and a new binary's assets get new URLs.
const AssetsPath = "/assets/{path...}"

// UI serves the pages and assets. It is safe for concurrent use.
type UI struct {
	shell   []shellPart
	static  fs.FS
	version string
	etags   map[string]string // file -> quoted ETag
}

// New returns the UI of the embedded files.
func New() (*UI, error) {
	src, err := fs.ReadFile(files, "templates/page.html")
	if err != nil {
		return nil, err
	}
	shell, err := parseShell(string(src))
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	u := &UI{shell: shell, static: static, etags: map[string]string{}}
	var names []string
	all := sha256.New()
	err = fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		u.etags[p] = `"` + hex.EncodeToString(sum[:12]) + `"`
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, n := range names {
		all.Write([]byte(n + "\x00" + u.etags[n] + "\x00"))
	}
	u.version = hex.EncodeToString(all.Sum(nil)[:6])
	return u, nil
}

// AssetBase is the URL path the current assets are served under:
// "/assets/VERSION".
func (u *UI) AssetBase() string { return "/assets/" + u.version }

// pageData is what the page shell shows. Every field is escaped for HTML
// (renderShell).
type pageData struct {
	Page
	Assets string
	ID     string // the page's {id}, if its path has one
}

// ServePage returns the handler of page p: its shell, under CSP. The
// handler's error is a bulwark error, for the server to write.
func (u *UI) ServePage(p Page) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if p.Name == "login" {
			// A ?next= that could leave the site is dropped before the
			// page is served (the page's script checks it again).
			if next, ok := r.URL.Query()["next"]; ok && (len(next) != 1 || SafeNext(next[0]) != next[0]) {
				setPageHeaders(w.Header())
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return nil
			}
		}
		id := r.PathValue("id")
		if id == "." || id == ".." {
			// /tasks/%2e%2e: the page's script would put ".." in its API
			// paths (/api/v1/tasks/../cancel is /api/v1/cancel), and no
			// task has such an id.
			return bulwark.E(bulwark.NotFound, "web.page", "no such task", nil)
		}
		var buf strings.Builder
		renderShell(&buf, u.shell, pageData{Page: p, Assets: u.AssetBase(), ID: id})
		h := w.Header()
		setPageHeaders(h)
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		io.WriteString(w, buf.String()) // an error is the client gone: nothing more to do
		return nil
	}
}

// setPageHeaders adds CSP as a policy of its own: where the server has
// set its default policy for documents already, the browser enforces
// both (CSP Level 3: every policy must allow a load), so the page gets
// the stricter of each directive.
func setPageHeaders(h http.Header) {
	if !slices.Contains(h.Values("Content-Security-Policy"), CSP) {
		h.Add("Content-Security-Policy", CSP)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// contentTypes are the types of the asset files; a file of another kind
// is not served.
var contentTypes = lazy.Value[map[string]string]{New: func() map[string]string {
	return map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
		".svg": "image/svg+xml",
	}
}}

// ServeAsset serves /assets/VERSION/FILE. Under the current VERSION the
// answer may be cached for good; under another (a page of an older
// binary) it is the current file, revalidated each time. An unknown file
// is NotFound.
func (u *UI) ServeAsset(w http.ResponseWriter, r *http.Request) error {
	const op = "web.ServeAsset"
	version, name, ok := strings.Cut(r.PathValue("path"), "/")
	if !ok || name == "" || !fs.ValidPath(name) || strings.HasPrefix(path.Base(name), ".") {
		return bulwark.Errorf(bulwark.NotFound, op, "no such asset")
	}
	etag, known := u.etags[name]
	ctype := contentTypes.Get()[path.Ext(name)]
	if !known || ctype == "" {
		return bulwark.Errorf(bulwark.NotFound, op, "no such asset")
	}
	f, err := u.static.Open(name)
	if err != nil {
		return bulwark.Errorf(bulwark.NotFound, op, "no such asset")
	}
	defer f.Close()
	h := w.Header()
	setPageHeaders(h)
	h.Set("Content-Type", ctype)
	h.Set("ETag", etag)
	if version == u.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	rs, ok := f.(interface {
		Read([]byte) (int, error)
		Seek(int64, int) (int64, error)
	})
	if !ok {
		return bulwark.E(bulwark.Internal, op, "", fs.ErrInvalid)
	}
	http.ServeContent(w, r, "", time.Time{}, rs) // revalidated by ETag
	return nil
}
