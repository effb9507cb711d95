package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditExportVerify exports the records the CLI appends to a file,
// checks the file against the chains with audit verify --export, and
// expects a changed export to fail the check. The secret's value never
// reaches the export.
func TestAuditExportVerify(t *testing.T) {
	data := t.TempDir()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	withEnv(t, map[string]string{"BULWARK_AUDIT_EXPORT": "file:" + path})
	const canary = "canary-secret-value-5d1e9b"
	for _, name := range []string{"API_KEY", "OTHER"} {
		if code, _, stderr := runCmd(t, cmdSecrets, canary+"\n", "set", "--data", data, name); code != exitOK {
			t.Fatalf("secrets set %s: exit %d, stderr %q", name, code, stderr)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n < 2 || !strings.Contains(string(b), `"action":"secret.set"`) {
		t.Fatalf("export = %q, want the secret.set records", b)
	}
	if strings.Contains(string(b), canary) {
		t.Fatal("the export holds the secret's value")
	}
	code, out, stderr := runCmd(t, cmdAudit, "", "verify", "--data", data, "--export", path)
	if code != exitOK || !strings.Contains(out, "export matches the audit log") {
		t.Fatalf("audit verify --export: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	changed := strings.Replace(string(b), `"target":"OTHER"`, `"target":"OTHR"`, 1)
	if changed == string(b) {
		t.Fatal("the change changes nothing")
	}
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd(t, cmdAudit, "", "verify", "--data", data, "--export", path)
	if code == exitOK || !strings.Contains(stderr, "does NOT match") {
		t.Errorf("audit verify --export of a changed export: exit %d, stderr %q; want a failure", code, stderr)
	}

	// A CLI command with an export it cannot use still records, and says so.
	withEnv(t, map[string]string{"BULWARK_AUDIT_EXPORT": "syslog:nowhere"})
	if code, _, stderr := runCmd(t, cmdSecrets, canary+"\n", "set", "--data", data, "THIRD"); code != exitOK || !strings.Contains(stderr, "BULWARK_AUDIT_EXPORT") {
		t.Errorf("a bad BULWARK_AUDIT_EXPORT: exit %d, stderr %q; want success and a warning naming it", code, stderr)
	}
	if _, err := auditExporter(stdio{}, true); err == nil {
		t.Error("serve would start with a BULWARK_AUDIT_EXPORT it cannot use")
	}
}
