package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nextTests are ?next= values and where the login page may go with them.
var nextTests = []struct {
	next string
	want string // DefaultNext: refused
}{
	{"/tasks", "/tasks"},
	{"/tasks/t_123/files?x=1#top", "/tasks/t_123/files?x=1#top"},
	{"/settings", "/settings"},
	{"/\t/evil.example/", DefaultNext}, // the reported bypass: the browser strips the TAB
	{"/\n/evil.example/", DefaultNext},
	{"/\r/evil.example/", DefaultNext},
	{"/tasks\t", DefaultNext},
	{"//evil.example", DefaultNext},
	{"/\\evil.example", DefaultNext},
	{"/\\\\evil.example", DefaultNext},
	{"/tasks\\..\\..", DefaultNext},
	{"https://evil.example/", DefaultNext},
	{"javascript:alert(1)", DefaultNext},
	{"evil.example", DefaultNext},
	{"", DefaultNext},
	{"/login", DefaultNext},
	{"/login?next=/tasks", DefaultNext},
	{"/\x00/evil.example", DefaultNext},
	{"/\u0085/evil.example", DefaultNext},
	// Encoded, they stay in the path: the browser decodes none of them
	// into a separator, so each is a path of this site (the server
	// answers 404), never another host.
	{"/%2F/evil.example", "/%2F/evil.example"},
	{"/%2F%2Fevil.example", "/%2F%2Fevil.example"},
	{"/%5C/evil.example", "/%5C/evil.example"},
	{"/%5C%5Cevil.example", "/%5C%5Cevil.example"},
	{"/%09/evil.example", "/%09/evil.example"},
	{"/%0D%0A/evil.example", "/%0D%0A/evil.example"},
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, c := range nextTests {
		if got := SafeNext(c.next); got != c.want {
			t.Errorf("SafeNext(%q) = %q, want %q", c.next, got, c.want)
		}
	}
}

// TestLoginPageDropsUnsafeNext: the server sends /login?next=BAD to
// /login before the page runs.
func TestLoginPageDropsUnsafeNext(t *testing.T) {
	t.Parallel()
	u := mustNew(t)
	for _, target := range []string{"/login?next=%2F%09%2Fevil.example%2F", "/login?next=%2F%2Fevil.example", "/login?next=https%3A%2F%2Fevil.example", "/login?next=%2Fa&next=%2Fb"} {
		w := serve(t, u, "GET", target)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
			t.Errorf("GET %s = %d Location %q, want 303 to /login", target, w.Code, w.Header().Get("Location"))
		}
	}
	if w := serve(t, u, "GET", "/login?next=%2Fsettings"); w.Code != http.StatusOK {
		t.Errorf("GET /login?next=%%2Fsettings = %d, want the page", w.Code)
	}
}

// TestSafeNextScript runs the login page's safeNext (static/login.js)
// under Node, when Node is installed, on the same table.
func TestSafeNextScript(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the browser tests (BULWARK_TEST_BROWSER=1) check the script")
	}
	var nexts, wants []string
	for _, c := range nextTests {
		nexts, wants = append(nexts, c.next), append(wants, c.want)
	}
	in, _ := json.Marshal(nexts)
	abs, _ := filepath.Abs("static/login.js")
	script := `globalThis.location = {origin: 'https://bulwark.test'};
const m = await import(` + jsString(abs) + `);
console.log(JSON.stringify(` + string(in) + `.map(m.safeNext)));`
	f := filepath.Join(t.TempDir(), "t.mjs")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, f).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &got); err != nil || len(got) != len(wants) {
		t.Fatalf("node printed %s: %v", out, err)
	}
	for i := range got {
		if got[i] != wants[i] {
			t.Errorf("safeNext(%q) in login.js = %q, want %q", nexts[i], got[i], wants[i])
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// FuzzSafeNext: whatever comes in, SafeNext returns DefaultNext or its
// input, and what it returns stays on the site when a browser resolves
// it (after stripping TAB, LF and CR as browsers do).
func FuzzSafeNext(f *testing.F) {
	for _, c := range nextTests {
		f.Add(c.next)
	}
	base, _ := url.Parse("https://bulwark.test/login")
	f.Fuzz(func(t *testing.T, next string) {
		got := SafeNext(next)
		if got != DefaultNext && got != next {
			t.Fatalf("SafeNext(%q) = %q: neither the input nor the default", next, got)
		}
		stripped := strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(got)
		u, err := base.Parse(stripped)
		if err != nil {
			t.Fatalf("SafeNext(%q) = %q, which does not parse: %v", next, got, err)
		}
		if u.Host != "bulwark.test" || u.Scheme != "https" {
			t.Fatalf("SafeNext(%q) = %q, which leads to %s", next, got, u)
		}
	})
}
