package main

import (
	"bufio"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The most a package of this module may allocate in its package
// initialisation. Every bulwark command, `bulwark version` included, pays
// for the init of every package the binary links, so regexps, tables,
// metrics and models are built on first use (internal/lazy), not at init.
// The budget is on allocations, which are the same on every run, never on
// time.
const (
	initBudgetBytes  = 8 << 10
	initBudgetAllocs = 40
)

// The most all packages of this module together may allocate at init, so
// that many small inits do not add up unseen, and how many of them may have
// an init at all: each one that runs touches its own code and data pages,
// page faults that every command pays (416 bytes and 4 allocations in 2
// packages since session 29, 3 packages since session 32, 4 since session
// 37, from 12.6 KB and 81 in 17, and 40.7 KB and
// 333 in 30 before; BENCHMARKS.md "Start-up without html/template" and
// "Issue 17, start-up: our own package inits").
const (
	initTotalBudgetBytes  = 4 << 10
	initTotalBudgetAllocs = 24
	initBudgetPackages    = 5
)

// (The fifth, since session 40: internal/noheapprofile, whose init turns
// off the runtime's heap-profile sampling before the other inits run; it
// allocates nothing.)

// noInitPackages are packages of this module that run no init at all:
// every package-level value is a literal the compiler lays out in the
// binary (a lazy.Value, a switch for a map, a function for a value that
// inlines), so GODEBUG=inittrace=1 does not list them. They each had one,
// which cost every command its own code and data pages (session 29,
// BENCHMARKS.md "Issue 17, start-up: our own package inits"): a map
// literal, a package-level sync.OnceValue, a base32 encoding, a regexp or
// an os call at package level gives one back. The packages that still
// have one: main (its commands register themselves), the sandbox init
// (its init is the init process's entry), sandbox/internal/prefault
// (in the init's build its init maps in the heap the others are about to
// touch; in bulwark's it returns at once; no allocation, session 32) and
// sandbox/internal/early (a root host's `sandbox exec` starts its
// sandbox's init there; for every other command it returns at its first
// test, no allocation, session 37).
var noInitPackages = []string{
	"audit/pgaudit",
	"guard",
	"guard/internal/classify",
	"llm/anthropic",
	"llm/llmtest",
	"mcpserver",
	"metrics",
	"sandbox",
	"sandbox/egress",
	"schedule",
	"secret",
	"server",
	"skill",
	"tool/web",
	"totp",
}

const modulePath = "github.com/bulwark-agents/bulwark"

// initCost is one line of GODEBUG=inittrace=1:
// "init PKG @0.52 ms, 0.05 ms clock, 16 bytes, 1 allocs".
type initCost struct {
	pkg           string
	bytes, allocs int
}

// parseInitTrace reads the init lines of a GODEBUG=inittrace=1 run.
func parseInitTrace(t *testing.T, stderr string) []initCost {
	t.Helper()
	var out []initCost
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 11 || f[0] != "init" || f[8] != "bytes," || f[10] != "allocs" {
			continue
		}
		b, err1 := strconv.Atoi(f[7])
		a, err2 := strconv.Atoi(f[9])
		if err1 != nil || err2 != nil {
			t.Fatalf("unreadable inittrace line %q", sc.Text())
		}
		out = append(out, initCost{f[1], b, a})
	}
	return out
}

// TestInitBudget: no package of this module, the CLI's main included,
// allocates more than the budget while the binary starts.
func TestInitBudget(t *testing.T) {
	r := runBulwark(t, []string{"GODEBUG=inittrace=1"}, "version")
	if r.code != 0 {
		t.Fatalf("bulwark version = %d: %s", r.code, r.stderr)
	}
	noInit := map[string]bool{}
	for _, p := range noInitPackages {
		noInit[modulePath+"/"+p] = true
	}
	seen, totalBytes, totalAllocs := 0, 0, 0
	for _, c := range parseInitTrace(t, r.stderr) {
		if c.pkg != "main" && c.pkg != modulePath && !strings.HasPrefix(c.pkg, modulePath+"/") {
			continue
		}
		if noInit[c.pkg] {
			t.Errorf("%s runs an init again (%d bytes in %d allocations): every command pays for its pages; make its package-level values literals, or build them on first use (internal/lazy)",
				c.pkg, c.bytes, c.allocs)
		}
		seen++
		totalBytes += c.bytes
		totalAllocs += c.allocs
		if c.bytes > initBudgetBytes || c.allocs > initBudgetAllocs {
			t.Errorf("init of %s allocates %d bytes in %d allocations, over the budget of %d bytes and %d allocations: build it on first use (internal/lazy)",
				c.pkg, c.bytes, c.allocs, initBudgetBytes, initBudgetAllocs)
		}
	}
	// main always has an init (its commands register themselves), so a
	// trace without it was not read.
	if seen < 2 {
		t.Fatalf("inittrace showed %d packages of this module; stderr:\n%s", seen, r.stderr)
	}
	if totalBytes > initTotalBudgetBytes || totalAllocs > initTotalBudgetAllocs {
		t.Errorf("the inits of this module's %d packages allocate %d bytes in %d allocations together, over the budget of %d bytes and %d allocations: build tables, regexps and maps on first use (internal/lazy)",
			seen, totalBytes, totalAllocs, initTotalBudgetBytes, initTotalBudgetAllocs)
	}
	if seen > initBudgetPackages {
		t.Errorf("%d packages of this module run an init, over the budget of %d: make package-level values literals, or build them on first use (internal/lazy)",
			seen, initBudgetPackages)
	}
}

// TestEarlyInitRunsEarly: the package that starts a cold sandbox exec's
// init (sandbox/internal/early) is initialised before the slow
// third-party inits, so that the init's start overlaps them: an import
// of a package initialised late (path/filepath is, by its import path)
// would put it after them, and the start would gain nothing.
func TestEarlyInitRunsEarly(t *testing.T) {
	r := runBulwark(t, []string{"GODEBUG=inittrace=1"}, "version")
	if r.code != 0 {
		t.Fatalf("bulwark version = %d: %s", r.code, r.stderr)
	}
	at := map[string]int{}
	for i, c := range parseInitTrace(t, r.stderr) {
		at[c.pkg] = i
	}
	early, ok := at[modulePath+"/sandbox/internal/early"]
	if !ok {
		t.Fatalf("inittrace does not show sandbox/internal/early:\n%s", r.stderr)
	}
	for _, p := range []string{"path/filepath", "regexp", "github.com/dustin/go-humanize", "github.com/riverqueue/river", "modernc.org/libc", "github.com/google/jsonschema-go/jsonschema", "net/http"} {
		if i, ok := at[p]; !ok || i < early {
			t.Errorf("%s is initialised before sandbox/internal/early (or not at all): %v", p, ok)
		}
	}
}

// TestHeapProfileOffFromTheStart: bulwark samples no allocation for a heap
// profile that no command reads (internal/noheapprofile), from before the
// first package init that allocates: a sample is a stack walk through the
// binary's tables and a bucket of a 1.4 MiB table, at every start. An
// import dropped, or initialised after inits that allocate, fails here.
func TestHeapProfileOffFromTheStart(t *testing.T) {
	if runtime.MemProfileRate != 0 {
		t.Errorf("runtime.MemProfileRate = %d in bulwark's package, want 0 (internal/noheapprofile imported by main)", runtime.MemProfileRate)
	}
	r := runBulwark(t, []string{"GODEBUG=inittrace=1"}, "version")
	if r.code != 0 {
		t.Fatalf("bulwark version = %d: %s", r.code, r.stderr)
	}
	off := false
	for _, c := range parseInitTrace(t, r.stderr) {
		if c.pkg == modulePath+"/internal/noheapprofile" {
			off = true
			break
		}
		if c.bytes > 0 {
			t.Errorf("%s allocates %d bytes at init before internal/noheapprofile turns the sampling off", c.pkg, c.bytes)
		}
	}
	if !off {
		t.Errorf("inittrace does not show internal/noheapprofile:\n%s", r.stderr)
	}
}

func TestParseInitTrace(t *testing.T) {
	got := parseInitTrace(t, "init internal/bytealg @0.003 ms, 0 ms clock, 0 bytes, 0 allocs\n"+
		"bulwark (devel)\n"+
		"init github.com/bulwark-agents/bulwark/shell @5.0 ms, 0.30 ms clock, 199168 bytes, 979 allocs\n")
	if len(got) != 2 || got[1] != (initCost{modulePath + "/shell", 199168, 979}) {
		t.Errorf("parseInitTrace = %+v", got)
	}
}

// slowInitDeps are packages whose package initialisation costs every
// bulwark command's start-up (page faults in init-built tables; BENCHMARKS.md
// "Start-up"): x/net/html builds a 2,000-entry entity map, and htmlindex
// links every x/text encoding with its CJK tables. fetch_url does without
// them (tool/web/internal/htmltok, tool/web/charset.go). text/template
// (html/template's base) calls reflect's MethodByName, which makes the
// linker keep every exported method of every type the binary links (3.7
// MB of it), on top of its inits; the web UI fills its page shell itself
// (web/shell.go).
var slowInitDeps = []string{
	"html/template",
	"text/template",
	"net/http/httptest", // its init builds a test certificate
	"golang.org/x/net/html",
	"golang.org/x/net/html/atom",
	"golang.org/x/net/html/charset",
	"golang.org/x/text/encoding/htmlindex",
	"golang.org/x/text/encoding/japanese",
	"golang.org/x/text/encoding/korean",
	"golang.org/x/text/encoding/simplifiedchinese",
	"golang.org/x/text/encoding/traditionalchinese",
}

// linkedPackages lists the packages the binary links (go list -deps).
func linkedPackages(t *testing.T) map[string]bool {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH: cannot list dependencies")
	}
	out, err := exec.Command("go", "list", "-deps", modulePath+"/cmd/bulwark").Output()
	if err != nil {
		t.Fatalf("go list -deps %s/cmd/bulwark: %v", modulePath, err)
	}
	deps := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		deps[d] = true
	}
	if !deps[modulePath+"/tool/web"] {
		t.Fatalf("go list -deps did not list %s/tool/web; the list was not read:\n%s", modulePath, out)
	}
	return deps
}

// TestNoInitPackagesLinked: every package of noInitPackages is linked
// into the binary, so that TestInitBudget not seeing it in the trace means
// it has no init, not that it is gone (a renamed package is renamed in
// the list too).
func TestNoInitPackagesLinked(t *testing.T) {
	deps := linkedPackages(t)
	for _, p := range noInitPackages {
		if !deps[modulePath+"/"+p] {
			t.Errorf("noInitPackages names %s, which the binary does not link", p)
		}
	}
}

// TestDepsNoSlowInit: the binary links none of slowInitDeps.
func TestDepsNoSlowInit(t *testing.T) {
	deps := linkedPackages(t)
	for _, d := range slowInitDeps {
		if deps[d] {
			t.Errorf("bulwark links %s, whose init every command pays for at start-up (BENCHMARKS.md \"Start-up\"); keep it out of the binary (tests may use it)", d)
		}
	}
}
