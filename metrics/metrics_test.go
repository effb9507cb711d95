package metrics

import (
	"bytes"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/families.txt from this package's exposition")

// expose returns what reg serves.
func expose(t *testing.T, reg *Registry) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := reg.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// mustParse parses what reg serves, failing the test on a format error.
func mustParse(t *testing.T, text string) (map[string]*parsedFamily, []string) {
	t.Helper()
	fams, order, err := parseText(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return fams, order
}

func TestSecurityCountersExposition(t *testing.T) {
	reg := NewRegistry()
	c := NewSecurityCounters(reg)
	c.Inc(AuthFailed)
	c.Inc(AuthFailed)
	c.Add(RateLimited, 5)
	c.Inc(SyscallDenied)

	out := expose(t, reg)
	for _, want := range []string{
		"# TYPE bulwark_security_events_total counter",
		`bulwark_security_events_total{kind="auth_failed"} 2`,
		`bulwark_security_events_total{kind="rate_limited"} 5`,
		`bulwark_security_events_total{kind="syscall_denied"} 1`,
		`bulwark_security_events_total{kind="injection_flagged"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q:\n%s", want, out)
		}
	}
	for _, k := range AllSecurityEvents {
		if want := fmt.Sprintf(`kind=%q`, string(k)); !strings.Contains(out, want) {
			t.Errorf("exposition lacks kind %s", k)
		}
	}
	// No tenant counted yet: the per-tenant family has no series, and is
	// not served (as the Prometheus client did).
	if strings.Contains(out, "bulwark_tenant_security_events_total") {
		t.Errorf("exposition serves the per-tenant family before its first series:\n%s", out)
	}
}

// TestSortedAndEscaped: families sorted by name, series by label values,
// label values and HELP escaped as the format says.
func TestSortedAndEscaped(t *testing.T) {
	reg := NewRegistry()
	b := NewCounterVec("b_total", "Help with a backslash \\ and a\nnewline \"quoted\".", "x", "y")
	a := NewCounter("a_total", "A.")
	reg.MustRegister(b, a)
	b.With("z", "1").Inc()
	b.With(`q"\`+"\n", "2").Add(3)
	b.With("a", "9").Inc()
	b.With("a", "10").Inc()
	a.Add(7)
	got := expose(t, reg)
	want := `# HELP a_total A.
# TYPE a_total counter
a_total 7
# HELP b_total Help with a backslash \\ and a\nnewline "quoted".
# TYPE b_total counter
b_total{x="a",y="10"} 1
b_total{x="a",y="9"} 1
b_total{x="q\"\\\n",y="2"} 3
b_total{x="z",y="1"} 1
`
	if got != want {
		t.Errorf("exposition =\n%s\nwant\n%s", got, want)
	}
}

// TestHandlerContentType: /metrics says which format it serves.
func TestHandlerContentType(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if got := rec.Header().Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if rec.Code != 200 {
		t.Errorf("status = %d", rec.Code)
	}
}

func TestDefaultHandler(t *testing.T) {
	Security.Inc(SandboxDenied)
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(out, `bulwark_security_events_total{kind="sandbox_denied"}`) || !strings.Contains(out, "go_goroutines") {
		t.Errorf("Handler() = %d:\n%s", rec.Code, out)
	}
	mustParse(t, out)
}

// TestFamilies: the names, help texts and types served are those of
// testdata/families.txt, which holds the HELP and TYPE lines Bulwark
// served with the Prometheus client library (v1.25.0) before this package
// wrote the format itself: the /metrics contract operators' dashboards
// and alerts rely on. Refresh with -update only for a deliberate change.
func TestFamilies(t *testing.T) {
	registerCollectors()
	SandboxRuns.With("families-test")                   // a series, so that the family is served
	Security.TenantCounter(AuthFailed, "families-test") // likewise
	var got []string
	for line := range strings.Lines(expose(t, Default)) {
		if strings.HasPrefix(line, "# ") {
			got = append(got, line)
		}
	}
	if *update {
		if err := os.WriteFile("testdata/families.txt", []byte(strings.Join(got, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("testdata/families.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Collect(strings.Lines(string(b)))
	for _, l := range want {
		if !slices.Contains(got, l) {
			t.Errorf("exposition lacks %q", strings.TrimSpace(l))
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			t.Errorf("exposition has %q, not in testdata/families.txt", strings.TrimSpace(l))
		}
	}
}

// TestRuntimeFamilies: the Go and process families hold plausible values
// read from this process, not zeros.
func TestRuntimeFamilies(t *testing.T) {
	reg := NewRegistry()
	reg.MustRegister(newGoCollector(), newProcessCollector())
	f, err := os.Open("/proc/self/stat") // one more open descriptor, seen below
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fams, _ := mustParse(t, expose(t, reg))
	value := func(name string) float64 {
		t.Helper()
		fam := fams[name]
		if fam == nil || len(fam.series) == 0 {
			t.Fatalf("exposition lacks %s", name)
		}
		return fam.series[0].value
	}
	for _, name := range []string{"go_goroutines", "go_threads", "go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes",
		"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds"} {
		if v := value(name); v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if v := value("process_cpu_seconds_total"); v < 0 {
		t.Errorf("process_cpu_seconds_total = %v", v)
	}
	if open, max := value("process_open_fds"), value("process_max_fds"); open > max {
		t.Errorf("process_open_fds %v > process_max_fds %v", open, max)
	}
	if got := fams["go_info"].series[0].labels; len(got) != 1 || got[0][0] != "version" || !strings.HasPrefix(got[0][1], "go") {
		t.Errorf("go_info labels = %v", got)
	}
	gc := fams["go_gc_duration_seconds"]
	if gc.typ != "summary" || len(gc.series) != 7 || gc.series[5].name != "go_gc_duration_seconds_sum" || gc.series[6].name != "go_gc_duration_seconds_count" {
		t.Errorf("go_gc_duration_seconds = %+v", gc)
	}
}

func TestParseStat(t *testing.T) {
	// A command with spaces and parentheses, as a process may name itself.
	const stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194304 1200 0 0 0 250 75 0 0 20 0 9 0 123456 1600503808 2380 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseStat([]byte(stat))
	want := procStat{utime: 250, stime: 75, starttime: 123456, vsize: 1600503808, rss: 2380}
	if err != nil || got != want {
		t.Errorf("parseStat = %+v, %v; want %+v", got, err, want)
	}
	if _, err := parseStat([]byte("4242 (a) S 1 2")); err == nil {
		t.Error("parseStat of a short line: no error")
	}
}

func TestLimitAndNetstat(t *testing.T) {
	const limits = `Limit                     Soft Limit           Hard Limit           Units
Max open files            20000                1048576              files
Max address space         unlimited            unlimited            bytes
`
	if n, ok := limit([]byte(limits), "Max open files"); !ok || n != 20000 {
		t.Errorf("Max open files = %v, %v", n, ok)
	}
	if n, ok := limit([]byte(limits), "Max address space"); !ok || n != 1<<64 {
		t.Errorf("Max address space = %v, %v", n, ok)
	}
	const ns = "TcpExt: SyncookiesSent\nTcpExt: 0\nIpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 1658832463 1449261255\n"
	if n, ok := netstat([]byte(ns), "IpExt", "InOctets"); !ok || n != 1658832463 {
		t.Errorf("InOctets = %v, %v", n, ok)
	}
	if n, ok := netstat([]byte(ns), "IpExt", "OutOctets"); !ok || n != 1449261255 {
		t.Errorf("OutOctets = %v, %v", n, ok)
	}
}

// TestConcurrentIncrementsAndScrapes: counters are exact under
// concurrent increments, series made concurrently, and scrapes (run with
// -race).
func TestConcurrentIncrementsAndScrapes(t *testing.T) {
	reg := NewRegistry()
	c := NewSecurityCounters(reg)
	runs := NewCounterVec("test_runs_total", "Runs.", "tenant")
	reg.MustRegister(runs, newGoCollector(), newProcessCollector())
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				c.IncTenant(AuthFailed, fmt.Sprintf("tn_%d", i%5))
				runs.With(fmt.Sprintf("tn_%d", w)).Inc()
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 20 {
				var b bytes.Buffer
				reg.WriteTo(&b)
				if _, _, err := parseText(b.String()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := c.Counter(AuthFailed).Value(); got != workers*each {
		t.Errorf("auth_failed = %d, want %d", got, workers*each)
	}
	for i := range 5 {
		if got := c.TenantCounter(AuthFailed, fmt.Sprintf("tn_%d", i)).Value(); got != workers*each/5 {
			t.Errorf("auth_failed of tn_%d = %d, want %d", i, got, workers*each/5)
		}
	}
	fams, _ := mustParse(t, expose(t, reg))
	if n := len(fams["test_runs_total"].series); n != workers {
		t.Errorf("test_runs_total has %d series, want %d", n, workers)
	}
	for _, s := range fams["test_runs_total"].series {
		if s.value != each {
			t.Errorf("%v = %v, want %d", s.labels, s.value, each)
		}
	}
}

func TestMustRegisterRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		cs   func() []Collector
	}{
		{"twice", func() []Collector { return []Collector{NewCounter("x_total", "X."), NewCounter("x_total", "Y.")} }},
		{"bad name", func() []Collector { return []Collector{NewCounter("x-total", "X.")} }},
		{"bad label", func() []Collector { return []Collector{NewCounterVec("x_total", "X.", "a b")} }},
		{"reserved label", func() []Collector { return []Collector{NewCounterVec("x_total", "X.", "__name__")} }},
		{"a runtime family", func() []Collector { return []Collector{newGoCollector(), NewCounter("go_goroutines", "X.")} }},
		{"a series of a vector", func() []Collector { return []Collector{NewCounterVec("x_total", "X.", "a").With("b")} }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("MustRegister (%s) did not panic", tt.name)
				}
			}()
			NewRegistry().MustRegister(tt.cs()...)
		}()
	}
}

func TestCounterAddNegative(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Add(-1) did not panic")
		}
	}()
	NewCounter("x_total", "X.").Add(-1)
}

// TestHandlerBeforeFirstUse: the counters are registered on first use, so
// /metrics served by a process that has counted nothing yet must still
// export every kind at zero and the Go and process collectors. Run in a
// child process, where nothing has touched Security.
func TestHandlerBeforeFirstUse(t *testing.T) {
	if os.Getenv("BULWARK_METRICS_CHILD") == "1" {
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		fmt.Print(rec.Body.String())
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHandlerBeforeFirstUse$")
	cmd.Env = append(os.Environ(), "BULWARK_METRICS_CHILD=1")
	body, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	out := string(body)
	for _, k := range AllSecurityEvents {
		if want := fmt.Sprintf(`bulwark_security_events_total{kind=%q} 0`, string(k)); !strings.Contains(out, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
	for _, want := range []string{"go_goroutines", "process_open_fds"} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %s:\n%s", want, out)
		}
	}
}
