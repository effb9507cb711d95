package metrics

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

// escapeCases are label values and help texts that need the format's
// escapes, or look as if they did.
var escapeCases = []string{
	"", "plain", `back\slash`, `"quoted"`, "new\nline", `\n`, `\"`, `\\`, "\\\n\"",
	"ends with a backslash\\", `{}=,`, "tab\tand\rreturn", "ünïcode ✓", "# HELP x y",
	"bad utf-8 \xff\xfe", "} 1\nfake_total 2",
}

// TestEscapingRoundTrip: what is written as a label value or a HELP text
// reads back as given (a value's invalid UTF-8 as U+FFFD).
func TestEscapingRoundTrip(t *testing.T) {
	for _, s := range escapeCases {
		checkRoundTrip(t, s, s)
	}
}

func FuzzEscaping(f *testing.F) {
	for _, s := range escapeCases {
		f.Add(s, s)
	}
	f.Fuzz(checkRoundTrip)
}

// checkRoundTrip writes a family with help text help and a series of label
// value value, parses it back and fails when either differs.
func checkRoundTrip(t *testing.T, help, value string) {
	reg := NewRegistry()
	v := NewCounterVec("round_trip_total", help, "value", "other")
	reg.MustRegister(v)
	v.With(value, "x").Add(2)
	var b bytes.Buffer
	reg.WriteTo(&b)
	fams, order, err := parseText(b.String())
	if err != nil {
		t.Fatalf("help %q, value %q: %v", help, value, err)
	}
	f := fams["round_trip_total"]
	if len(order) != 1 || f == nil || len(f.series) != 1 {
		t.Fatalf("help %q, value %q: read back %v:\n%s", help, value, order, b.String())
	}
	if f.help != help {
		t.Errorf("help %q read back as %q", help, f.help)
	}
	wantValue := strings.ToValidUTF8(value, string(utf8.RuneError))
	if got := f.series[0].labels; len(got) != 2 || got[0] != [2]string{"value", wantValue} || got[1] != [2]string{"other", "x"} {
		t.Errorf("value %q read back as %q, want %q", value, got, wantValue)
	}
	if f.series[0].value != 2 {
		t.Errorf("value %q: sample read back as %v", value, f.series[0].value)
	}
}

// TestPromtoolCheckMetrics: Prometheus' own parser and linter accept what
// /metrics serves, every family present, with label values that need
// escaping. CI installs promtool (.ci/promtool.sh).
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (apt-get install prometheus provides it)")
	}
	registerCollectors()
	SandboxRuns.With("promtool-test")
	for _, s := range escapeCases {
		Security.TenantCounter(AuthFailed, s).Inc()
	}
	AuditExport.Dropped.Add(2)
	var b bytes.Buffer
	Default.WriteTo(&b)
	text := b.String()
	for _, want := range []string{"bulwark_tenant_security_events_total", "bulwark_sandbox_runs_total", "go_gc_duration_seconds", "process_open_fds"} {
		if !strings.Contains(text, want) {
			t.Fatalf("exposition lacks %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	// Exit status 1 is a parse error, 3 a lint problem (naming, help): the
	// Prometheus client's exposition had neither, nor may this one.
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s\nexposition:\n%s", err, out, text)
	}
}
