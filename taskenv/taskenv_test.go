package taskenv

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/internal/sigsysprobe"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

type nopModel struct{}

func (nopModel) Name() string { return "test:nop" }
func (nopModel) Stream(context.Context, llm.Request, func(string)) (*llm.Response, error) {
	return nil, errors.New("not used")
}

// memAudit keeps the records appended; fail makes Append fail.
type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
	fail bool
}

func (m *memAudit) Append(_ context.Context, r audit.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("disk full")
	}
	m.recs = append(m.recs, r)
	return nil
}

func (m *memAudit) actions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.recs {
		out = append(out, r.Action+":"+r.Outcome)
	}
	return out
}

func newEnv(t *testing.T, o Options) (*Env, *workspace.Workspace) {
	t.Helper()
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if o.Tenant == "" {
		o.Tenant = "tn_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))
	}
	o.TaskID, o.Model, o.Workspace = "t_1", nopModel{}, ws
	e, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, ws
}

func tenantCount(k metrics.SecurityEvent, tenant string) float64 {
	return float64(metrics.Security.TenantCounter(k, tenant).Value())
}

// TestSecretMaskedCounted: the task's masking counts each output in which
// it masked one of the tenant's secrets, and nothing else.
func TestSecretMaskedCounted(t *testing.T) {
	const tenant = "tn_masked"
	e, _ := newEnv(t, Options{Tenant: tenant, Secrets: []bulwark.Secret{{Name: "TOKEN", Value: "tok-value-8f7e6d"}},
		Masked: map[string]string{"MODEL_API_KEY": "sk-model-key-1a2b3c"}})
	before := tenantCount(metrics.SecretMasked, tenant)
	if got := e.Mask("nothing secret here"); got != "nothing secret here" {
		t.Errorf("Mask changed plain text: %q", got)
	}
	if n := tenantCount(metrics.SecretMasked, tenant) - before; n != 0 {
		t.Errorf("plain text counted %v secret_masked, want 0", n)
	}
	if got := e.Mask("a tok-value-8f7e6d and sk-model-key-1a2b3c"); got != "a [REDACTED:TOKEN] and [REDACTED:MODEL_API_KEY]" {
		t.Errorf("Mask = %q", got)
	}
	if n := tenantCount(metrics.SecretMasked, tenant) - before; n != 1 {
		t.Errorf("an output with secrets counted %v secret_masked, want 1", n)
	}
}

// TestSecretMaskedAudited: the texts in which a task's secret was masked
// are recorded in the audit log, counted in one record (a minute), with
// neither the secret nor the text.
func TestSecretMaskedAudited(t *testing.T) {
	const value = "tok-value-8f7e6d"
	log := &memAudit{}
	e, _ := newEnv(t, Options{Tenant: "tn_masked_audit", Audit: log, Secrets: []bulwark.Secret{{Name: "TOKEN", Value: value}}})
	e.Mask("nothing secret here")
	for range 3 {
		e.Mask("the token is " + value)
	}
	e.Close() // writes what the minute counted
	var got []audit.Record
	for _, r := range log.recs {
		if r.Action == ActionSecretMasked {
			got = append(got, r)
		}
	}
	if len(got) != 1 || got[0].Details["count"] != "3" || got[0].Target != "t_1" || got[0].TenantID != "tn_masked_audit" {
		t.Fatalf("secret.masked records = %+v, want one for task t_1 counting 3", got)
	}
	for k, v := range got[0].Details {
		if strings.Contains(v, value) || strings.Contains(v, "token is") {
			t.Errorf("the record's %s holds the text or the secret: %q", k, v)
		}
	}
}

// TestPathEscapeCounted: a file tool's path that tries to leave the
// workspace counts as path_escape of the tenant; a missing file does not.
func TestPathEscapeCounted(t *testing.T) {
	const tenant = "tn_escape"
	e, ws := newEnv(t, Options{Tenant: tenant})
	before := tenantCount(metrics.PathEscape, tenant)
	env := &tool.Env{Workspace: ws}
	if _, err := e.Tools.Call(context.Background(), env, "read_file", json.RawMessage(`{"path":"missing.txt"}`)); err == nil {
		t.Fatal("read_file of a missing file succeeded")
	}
	if n := tenantCount(metrics.PathEscape, tenant) - before; n != 0 {
		t.Errorf("a missing file counted %v path_escape, want 0", n)
	}
	if _, err := e.Tools.Call(context.Background(), env, "read_file", json.RawMessage(`{"path":"../../etc/passwd"}`)); err == nil {
		t.Fatal("read_file of ../../etc/passwd succeeded")
	}
	if n := tenantCount(metrics.PathEscape, tenant) - before; n != 1 {
		t.Errorf("../../etc/passwd counted %v path_escape, want 1", n)
	}
}

// TestLogMaskLifetime: the process's log redactor masks the task's
// secrets, under the task's labels, while the task runs, and not after.
func TestLogMaskLifetime(t *testing.T) {
	log := secret.NewRedactor()
	log.SetDetection(false)
	e, _ := newEnv(t, Options{Secrets: []bulwark.Secret{{Name: "TOKEN", Value: "tok-value-8f7e6d"}},
		LogMask: log, LogPrefix: "tn_a.t_1."})
	if got := log.String("x tok-value-8f7e6d"); got != "x [REDACTED:tn_a.t_1.TOKEN]" {
		t.Errorf("while the task runs the log shows %q", got)
	}
	e.Close()
	if got := log.String("x tok-value-8f7e6d"); got != "x tok-value-8f7e6d" {
		t.Errorf("after the task the log redactor still holds its secret: %q", got)
	}
}

func requireSandbox(t *testing.T) {
	t.Helper()
	testfamily.Sandbox.Require(t)
	if r := sandbox.Check(); !r.OK() {
		t.Fatalf("BULWARK_TEST_SANDBOX=1 but the host cannot sandbox: %s", r.Problem())
	}
}

// TestSandboxCounted: through the task's Exec, a command the sandbox
// refuses to start counts as sandbox_denied, a process the seccomp filter
// kills as syscall_denied, and each run is audited as sandbox.run, the
// refused one as denied.
func TestSandboxCounted(t *testing.T) {
	requireSandbox(t)
	const tenant = "tn_sandboxed"
	log := &memAudit{}
	e, _ := newEnv(t, Options{Tenant: tenant, Audit: log, Sandbox: SandboxOptions{AllowExec: []string{"bash", "python3"},
		// The i386 probe below runs machine code it wrote: W^X off.
		WriteExecMemory: sandbox.WXAllow}})
	ctx := context.Background()
	denied, killed := tenantCount(metrics.SandboxDenied, tenant), tenantCount(metrics.SyscallDenied, tenant)
	if _, err := e.Exec(ctx, []string{"bash", "-c", "exit 0"}); err != nil {
		t.Fatal(err)
	}
	if tenantCount(metrics.SandboxDenied, tenant) != denied || tenantCount(metrics.SyscallDenied, tenant) != killed {
		t.Error("an allowed command was counted as denied")
	}
	r, err := e.Exec(ctx, []string{"perl", "-e", "1"})
	if err != nil {
		t.Fatal(err)
	}
	if n := tenantCount(metrics.SandboxDenied, tenant) - denied; n != 1 || r.ExitCode != 126 {
		t.Errorf("a command off the allowlist: exit %d, sandbox_denied +%v; want 126, +1", r.ExitCode, n)
	}
	// int 0x80 (the i386 ABI) from a 64-bit process: seccomp kills it (or,
	// on a host that runs no i386 system calls, a process killed by SIGSYS
	// as the filter kills).
	if _, err := e.Exec(ctx, []string{"python3", "-c", sigsysprobe.Program(t)}); err != nil {
		t.Fatal(err)
	}
	if n := tenantCount(metrics.SyscallDenied, tenant) - killed; n != 1 {
		t.Errorf("a process seccomp killed: syscall_denied +%v, want +1", n)
	}
	want := []string{"sandbox.run:ok", "sandbox.run:denied", "sandbox.run:error"}
	if got := log.actions(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audit records = %q, want %q", got, want)
	}
}

// TestSandboxAuditFailsClosed: once a sandboxed command cannot be
// audited, the task runs no more commands.
func TestSandboxAuditFailsClosed(t *testing.T) {
	requireSandbox(t)
	log := &memAudit{fail: true}
	e, _ := newEnv(t, Options{Audit: log, Sandbox: SandboxOptions{AllowExec: []string{"bash"}}})
	before := float64(metrics.Security.Counter(metrics.AuditFailure).Value())
	if _, err := e.Exec(context.Background(), []string{"bash", "-c", "exit 0"}); err != nil {
		t.Fatal(err)
	}
	if n := float64(metrics.Security.Counter(metrics.AuditFailure).Value()) - before; n != 1 {
		t.Errorf("audit_failure +%v, want +1", n)
	}
	if _, err := e.Exec(context.Background(), []string{"bash", "-c", "exit 0"}); bulwark.ErrorKind(err) != bulwark.Unavailable {
		t.Errorf("a command after an audit failure: %v, want refused (Unavailable)", err)
	}
}

func globalCount(k metrics.SecurityEvent) float64 {
	return float64(metrics.Security.Counter(k).Value())
}

// TestEgressCounted: through the task's Exec, a connection to a host off
// the allowlist counts as egress_denied, and a secret's placeholder sent
// where its value may not go (here over plain HTTP) as secret_refused;
// both are audited.
func TestEgressCounted(t *testing.T) {
	requireSandbox(t)
	log := &memAudit{}
	e, _ := newEnv(t, Options{Audit: log, SecretTools: []string{"run_code"},
		Secrets: []bulwark.Secret{{Name: "BOUND", Value: "bound-value-7h6g5f", Hosts: []string{"example.com"}}},
		Sandbox: SandboxOptions{AllowExec: []string{"python3"}, AllowDomains: []string{"example.com"}}})
	fetch := func(url string) {
		t.Helper()
		code := "import urllib.request\ntry:\n    urllib.request.urlopen('" + url + "', timeout=5)\nexcept Exception as e:\n    print('failed', e)\n"
		if _, err := e.Exec(context.Background(), []string{"python3", "-c", code}); err != nil {
			t.Fatal(err)
		}
	}
	denied := globalCount(metrics.EgressDenied)
	fetch("http://evil.example/")
	if n := globalCount(metrics.EgressDenied) - denied; n != 1 {
		t.Errorf("a connection off the allowlist: egress_denied +%v, want +1", n)
	}
	refused := globalCount(metrics.SecretRefused)
	fetch("http://example.com/?t={{secret:BOUND}}")
	if n := globalCount(metrics.SecretRefused) - refused; n != 1 {
		t.Errorf("a placeholder over plain HTTP: secret_refused +%v, want +1", n)
	}
	got := strings.Join(log.actions(), " ")
	for _, want := range []string{"egress.deny:denied", "egress.secret_refused:denied"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit records %q lack %s", got, want)
		}
	}
}

// TestSandboxLimitCounted: a command stopped by its time limit counts as
// sandbox_limit.
func TestSandboxLimitCounted(t *testing.T) {
	requireSandbox(t)
	e, _ := newEnv(t, Options{Sandbox: SandboxOptions{AllowExec: []string{"bash"}, Timeout: 500 * time.Millisecond}})
	before := globalCount(metrics.SandboxLimit)
	r, err := e.Exec(context.Background(), []string{"bash", "-c", "while :; do :; done"})
	if err != nil {
		t.Fatal(err)
	}
	if n := globalCount(metrics.SandboxLimit) - before; n != 1 || !r.TimedOut {
		t.Errorf("a command over its time limit: timed out %v, sandbox_limit +%v; want true, +1", r.TimedOut, n)
	}
}

// TestSetupAndConfigAgree: the server's runner.Setup and the CLI's
// agent.Config carry the same assembled task, field for field, so the two
// entry points cannot drift apart again.
func TestSetupAndConfigAgree(t *testing.T) {
	e, _ := newEnv(t, Options{Secrets: []bulwark.Secret{{Name: "TOKEN", Value: "tok-value-8f7e6d"}},
		SecretTools: []string{"run_shell"}, Instructions: "be brief",
		Policy: bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Pattern: "*", Decision: bulwark.Ask}}},
		Limits: bulwark.Limits{MaxSteps: 7}})
	setup, cfg := reflect.ValueOf(*e.Setup()), reflect.ValueOf(e.Config())
	for i := range setup.NumField() {
		name := setup.Type().Field(i).Name
		got := setup.Field(i)
		var want reflect.Value
		switch name {
		case "Close":
			continue
		case "Uploading":
			// Only the server's runner takes uploads to a running task:
			// the CLI's agent.Config has no counterpart.
			want = reflect.ValueOf(e.Uploading)
		case "Exec":
			want = cfg.FieldByName("Env").Elem().FieldByName("Exec")
		default:
			want = cfg.FieldByName(name)
		}
		if !want.IsValid() {
			t.Errorf("runner.Setup.%s has no counterpart in agent.Config", name)
			continue
		}
		same := false
		switch got.Kind() {
		case reflect.Func:
			same = got.Pointer() == want.Pointer()
		default:
			same = reflect.DeepEqual(got.Interface(), want.Interface())
		}
		if !same {
			t.Errorf("%s differs: Setup %v, Config %v", name, got, want)
		}
	}
}
