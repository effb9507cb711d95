package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDoctor(t *testing.T) {
	data := t.TempDir()
	os.Chmod(data, 0o700)
	base := []string{"BULWARK_DATA=" + data}
	if r := runBulwark(t, base, "run", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "x"); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	tests := []struct {
		name  string
		env   []string
		setup func()
		fail  string // a check that must fail; "" for none
	}{
		{"audit off", []string{"BULWARK_AUDIT=off"}, nil, "audit log"},
		{"sandbox off", []string{"BULWARK_SANDBOX=off"}, nil, "sandbox"},
		{"unconfined", []string{"BULWARK_RESTRICT_TO_WORKSPACE=false"}, nil, "workspace confinement"},
		{"rate limit off", []string{"BULWARK_RATE_LIMIT=off"}, nil, "rate limiting"},
		{"wrong master key", []string{"BULWARK_MASTER_KEY=" + strings.Repeat("A", 43) + "="}, nil, "store"},
		{"open data folder", nil, func() { os.Chmod(data, 0o755) }, "data folder"},
		{"tampered audit log", nil, func() {
			os.Chmod(data, 0o700)
			p := tenantAuditLog(t, data)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), "task.start", "task.stArt", 1)), 0o600)
		}, "audit log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			r := runBulwark(t, append(base, tt.env...), "doctor")
			line := ""
			for _, l := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(l, "FAIL") && strings.Contains(l, tt.fail) {
					line = l
				}
			}
			if r.code != 1 || line == "" {
				t.Errorf("exit %d, want 1 with %q failing:\n%s%s", r.code, tt.fail, r.stdout, r.stderr)
			}
		})
	}
}

// BULWARK_SECRETS_IN_SANDBOX=on is shown as a warning, a bad value fails.
func TestDoctorSecretsInSandbox(t *testing.T) {
	data := t.TempDir()
	os.Chmod(data, 0o700)
	for _, tt := range []struct{ value, level string }{{"on", "warn"}, {"off", "ok"}, {"maybe", "FAIL"}} {
		r := runBulwark(t, []string{"BULWARK_DATA=" + data, "BULWARK_SECRETS_IN_SANDBOX=" + tt.value}, "doctor")
		found := false
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, tt.level) && strings.Contains(l, "secrets") {
				found = true
			}
		}
		if !found {
			t.Errorf("BULWARK_SECRETS_IN_SANDBOX=%s: doctor shows no %s line for secrets:\n%s", tt.value, tt.level, r.stdout)
		}
	}
}

// BULWARK_WORKSPACE_EXEC=on is shown as a warning, not passed silently.
func TestDoctorWorkspaceExec(t *testing.T) {
	data := t.TempDir()
	os.Chmod(data, 0o700)
	tests := []struct {
		value string
		want  string // the line's start
	}{
		{"", "ok    workspace exec"},
		{"off", "ok    workspace exec"},
		{"on", "warn  workspace exec"},
		{"yes please", "warn  workspace exec"},
	}
	for _, tt := range tests {
		r := runBulwark(t, []string{"BULWARK_DATA=" + data, "BULWARK_WORKSPACE_EXEC=" + tt.value}, "doctor")
		if !strings.Contains(r.stdout, tt.want) {
			t.Errorf("doctor with BULWARK_WORKSPACE_EXEC=%q: no line %q:\n%s", tt.value, tt.want, r.stdout)
		}
	}
}

// TestDoctorDataFolderAccess: a file of the data folder that the server
// could not write (made by a command run as another user) fails doctor.
func TestDoctorDataFolderAccess(t *testing.T) {
	data := t.TempDir()
	os.Chmod(data, 0o700)
	base := []string{"BULWARK_DATA=" + data}
	if r := runBulwark(t, base, "tenants", "create", "acme"); r.code != 0 {
		t.Fatalf("tenants create: %s", r.stderr)
	}
	doctorLine := func() (int, string) {
		r := runBulwark(t, base, "doctor")
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.Contains(l, "data folder access") {
				return r.code, l
			}
		}
		t.Fatalf("doctor has no data folder access check:\n%s", r.stdout)
		return 0, ""
	}
	if _, line := doctorLine(); !strings.HasPrefix(line, "ok") {
		t.Fatalf("a folder of one owner: %s", line)
	}
	p := tenantAuditLog(t, data)
	if os.Getuid() == 0 {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	} else if err := os.Chmod(p, 0o400); err != nil {
		t.Fatal(err)
	}
	if code, line := doctorLine(); code != 1 || !strings.HasPrefix(line, "FAIL") || !strings.Contains(line, filepath.Base(p)) {
		t.Errorf("a chain the server cannot write: exit %d, %s; want it failed, naming the file", code, line)
	}
}

// TestDoctorCountsWarnings: a run with warnings does not end with a bare
// "all checks passed", which reads as nothing to do.
func TestDoctorCountsWarnings(t *testing.T) {
	data := t.TempDir()
	os.Chmod(data, 0o700)
	r := runBulwark(t, []string{"BULWARK_DATA=" + data, "BULWARK_WORKSPACE_EXEC=on"}, "doctor")
	warns := strings.Count(r.stdout, "\nwarn  ")
	if warns == 0 || !strings.Contains(r.stdout, "with warnings to read above") && !strings.Contains(r.stdout, "1 with a warning to read above") {
		t.Errorf("doctor with %d warnings ends:\n%s", warns, r.stdout)
	}
}

// BULWARK_TAINT=off is a warning, a value that does not parse a failure.
func TestDoctorTaint(t *testing.T) {
	data := t.TempDir()
	os.Chmod(data, 0o700)
	for _, tt := range []struct{ value, level string }{{"off", "warn"}, {"source", "ok"}, {"", "ok"}, {"strict", "FAIL"}} {
		r := runBulwark(t, []string{"BULWARK_DATA=" + data, "BULWARK_TAINT=" + tt.value}, "doctor")
		found := false
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, tt.level) && strings.Contains(l, "taint") {
				found = true
			}
		}
		if !found {
			t.Errorf("BULWARK_TAINT=%s: doctor shows no %s line for taint:\n%s", tt.value, tt.level, r.stdout)
		}
	}
}

// Without BULWARK_AUDIT_EXPORT the audit log has no copy out of its
// storage's reach, and verify cannot see checkpoints removed: doctor
// warns (red team, session 42).
func TestDoctorAuditExport(t *testing.T) {
	data := t.TempDir()
	os.Chmod(data, 0o700)
	for _, tt := range []struct{ value, level string }{{"", "warn"}, {"file:" + filepath.Join(t.TempDir(), "audit.jsonl"), "ok"}} {
		r := runBulwark(t, []string{"BULWARK_DATA=" + data, "BULWARK_AUDIT_EXPORT=" + tt.value}, "doctor")
		found := false
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, tt.level) && strings.Contains(l, "audit export") {
				found = true
			}
		}
		if !found {
			t.Errorf("BULWARK_AUDIT_EXPORT=%q: doctor shows no %s line for the audit export:\n%s", tt.value, tt.level, r.stdout)
		}
	}
}
