package metrics

import (
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestSecurityCountersExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewSecurityCounters(reg)
	c.Inc(AuthFailed)
	c.Inc(AuthFailed)
	c.Add(RateLimited, 5)
	c.Inc(SyscallDenied)

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	out := string(body)
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
}

func TestDefaultHandler(t *testing.T) {
	Security.Inc(SandboxDenied)
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(out, `bulwark_security_events_total{kind="sandbox_denied"}`) || !strings.Contains(out, "go_goroutines") {
		t.Errorf("Handler() = %d:\n%s", rec.Code, out)
	}
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
