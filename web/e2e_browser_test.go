package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The browser of the end-to-end tests: Debian's chromium, headless,
// driven over the DevTools protocol (chromedp; no chromedriver, no
// downloaded browser). The tests run when BULWARK_TEST_BROWSER=1
// (.ci/install-browser.sh installs chromium) and skip with the reason
// elsewhere.

// chromiumPath is where Debian's chromium package puts the browser;
// BULWARK_CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("BULWARK_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// artifactDir is where screenshots go: $BULWARK_TEST_ARTIFACTS, or
// bulwark-e2e in the system's temporary folder. Never the repository.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("BULWARK_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "bulwark-e2e")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cspProbe runs in every document before the page's own scripts (the
// DevTools protocol injects it; a page's CSP does not apply to it): it
// collects Content-Security-Policy and Trusted Types violations, and
// reports each on the console too, so that one in a page left by a
// navigation is not lost.
const cspProbe = `(() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', e => {
    const v = e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber + ' ' + (e.sample || '');
    window.__violations.push(v);
    console.error('CSP-VIOLATION ' + v);
  });
})();`

// browser is one headless chromium with one tab.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // CSP violations and uncaught exceptions seen
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	testfamily.Browser.Require(t)
	exe := chromiumPath()
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("BULWARK_TEST_BROWSER=1 but there is no browser at %s (run .ci/install-browser.sh, or set BULWARK_CHROMIUM): %v", exe, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Without these Chromium floods this closed network with refused
		// connections (updates, sync, field trials, QUIC probes).
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Canceling the allocator kills the browser and waits for it.
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			text := m.Text
			if m.IsException() || strings.Contains(text, "CSP-VIOLATION") || strings.Contains(text, "Content Security Policy") ||
				strings.Contains(text, "Trusted Type") {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s: %s (%s:%d)", m.Type, text, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// takeProblems returns the violations and exceptions seen since the
// last call.
func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// noProblems fails the test for any CSP violation or uncaught exception
// since the last check, and for violations the current page recorded.
func (b *browser) noProblems(where string) {
	b.t.Helper()
	time.Sleep(100 * time.Millisecond) // let the console catch up
	if v := evalJS[[]string](b, `window.__violations || []`); len(v) > 0 {
		b.t.Errorf("%s: the page reported CSP violations: %q", where, v)
	}
	text := evalJS[string](b, `document.querySelector('main') ? document.querySelector('main').innerText : ''`)
	for _, bad := range []string{"null", "undefined", "[object Object]", "NaN"} {
		if strings.Contains(text, bad) {
			b.t.Errorf("%s: the page shows %q:\n%s", where, bad, text)
		}
	}
	for _, p := range b.takeProblems() {
		b.t.Errorf("%s: %s", where, p)
	}
}

// do runs actions with a time limit.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.shot("failure")
		b.t.Fatalf("at %s: %v", loc, err)
	}
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](b *browser, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// wait waits until a JavaScript expression is truthy. It evaluates it
// every 50ms, through navigations (a page that sends the browser on
// elsewhere, as to the login page, is normal).
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText : ''`))
	b.shot("failure")
	b.t.Fatalf("waiting for %s (%s) at %s: last error %v\npage text:\n%s", what, expr, loc, lastErr, text)
}

// visible waits until an element matching the CSS selector is shown.
func (b *browser) visible(sel string) {
	b.t.Helper()
	b.wait(sel+" to show", fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.offsetParent !== null; })()`, sel))
}

// text is the visible text of the first element matching sel ("" when none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	return evalJS[string](b, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ''}).innerText`, sel))
}

// click clicks the first element matching the CSS selector. A page that
// re-renders between finding the element and clicking it (live task pages
// do) leaves a stale node behind; the click is then tried again on the
// new one.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.doFresh(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// doFresh runs actions like do, trying them again while they fail only
// because the node they found was replaced before they acted on it.
func (b *browser) doFresh(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		err := chromedp.Do(ctx, actions...)
		cancel()
		if err == nil {
			return
		}
		if !staleNode(err) || time.Now().After(deadline) {
			loc, _ := chromedp.Run(b.ctx, chromedp.Location())
			b.shot("failure")
			b.t.Fatalf("at %s: %v", loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// staleNode reports whether err is the protocol's answer for a node the
// page has since removed.
func staleNode(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Could not find node with given id") ||
		strings.Contains(msg, "No node with given id") ||
		strings.Contains(msg, "Node is detached from document") ||
		strings.Contains(msg, "Cannot find context with specified id")
}

// clickText clicks the first button or link matching sel whose text is text.
func (b *browser) clickText(sel, text string) {
	b.t.Helper()
	b.wait(fmt.Sprintf("%s %q", sel, text), fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.innerText.trim() === %q && e.offsetParent !== null)`, sel, text))
	evalJS[chromedp.Void](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].find(e => e.innerText.trim() === %q && e.offsetParent !== null).click()`, sel, text))
}

// typeInto types text into the first field matching sel.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	b.doFresh(chromedp.SendKeys(chromedp.CSS(sel), text))
}

// setValue sets the value of the first field matching sel, as a person
// choosing it would (input and change events).
func (b *browser) setValue(sel, value string) {
	b.t.Helper()
	b.wait(sel, fmt.Sprintf(`document.querySelector(%q)`, sel))
	evalJS[chromedp.Void](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
		e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); })()`, sel, value))
}

// open navigates to a page of the server and waits for its module to
// render.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url))
	b.wait("the page to render", `document.readyState === 'complete' && !document.getElementById('loading')`)
}

// path is the path of the page shown.
func (b *browser) path() string {
	return evalJS[string](b, `location.pathname`)
}

// shot saves a screenshot of the whole page as NAME.png in the artifact
// folder and returns its path.
func (b *browser) shot(name string) string {
	return b.save(name, chromedp.FullScreenshot(100)) // 100: PNG
}

// shotViewport saves a screenshot of what the window shows, for long
// pages.
func (b *browser) shotViewport(name string) string {
	return b.save(name, chromedp.CaptureScreenshot())
}

func (b *browser) save(name string, capture chromedp.Action[[]byte]) string {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, capture)
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(artifactDir(b.t), name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

// colorScheme emulates prefers-color-scheme ("" resets it).
func (b *browser) colorScheme(s string) {
	b.t.Helper()
	var features []*emulation.MediaFeature
	if s != "" {
		features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}}
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features}); err != nil {
		b.t.Fatal(err)
	}
}
