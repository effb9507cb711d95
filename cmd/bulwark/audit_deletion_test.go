package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditVerifyFindsTheLogRemoved: after a run has recorded, emptying
// its tenant's chain, removing or emptying the system chain, or removing
// the audit folder whole fails 'bulwark audit verify', saying what is
// gone, as a change to a record does.
func TestAuditVerifyFindsTheLogRemoved(t *testing.T) {
	tests := []struct {
		name   string
		remove func(t *testing.T, dir string)
		want   string
	}{
		{"tenant chain emptied", func(t *testing.T, dir string) {
			logs, _ := filepath.Glob(filepath.Join(dir, "tenants", "*.log*"))
			if len(logs) == 0 {
				t.Fatal("the run recorded in no tenant chain")
			}
			for _, p := range logs {
				if err := os.Truncate(p, 0); err != nil {
					t.Fatal(err)
				}
			}
		}, "the chain has no records, though the system chain records its creation"},
		{"system chain emptied", func(t *testing.T, dir string) {
			for _, p := range []string{"audit.log", "audit.log.checkpoints", "audit.log.idx"} {
				os.Truncate(filepath.Join(dir, p), 0)
			}
		}, "system chain is NOT intact"},
		{"system chain removed", func(t *testing.T, dir string) {
			for _, p := range []string{"audit.log", "audit.log.checkpoints", "audit.log.idx"} {
				os.Remove(filepath.Join(dir, p))
			}
		}, "the system chain is gone"},
		{"audit folder removed", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}, "the audit log is NOT intact: it is gone"},
		{"audit folder and signing key removed", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(filepath.Dir(dir), "keys", "audit-signing.key")); err != nil {
				t.Fatal(err)
			}
		}, "the store has tenants (1), whose creation the audit log records, but there is no audit log"},
		{"audit folder emptied", func(t *testing.T, dir string) {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}, "the audit log is NOT intact: it is gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			extra := []string{"BULWARK_DATA=" + data}
			if r := runBulwark(t, extra, "run", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "task"); r.code != 0 {
				t.Fatalf("run: exit %d: %s", r.code, r.stderr)
			}
			if r := runBulwark(t, extra, "audit", "verify"); r.code != 0 {
				t.Fatalf("verify after a run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			dir, _ := auditPaths(data)
			tt.remove(t, dir)
			r := runBulwark(t, extra, "audit", "verify")
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("verify with the %s: exit %d, want 1 and %q\n%s%s", tt.name, r.code, tt.want, r.stdout, r.stderr)
			}
			if strings.Contains(tt.want, "the store has tenants") {
				// doctor says the same, not "no records yet".
				if r := runBulwark(t, extra, "doctor"); !strings.Contains(r.stdout, tt.want) {
					t.Errorf("doctor with the %s does not say %q:\n%s%s", tt.name, tt.want, r.stdout, r.stderr)
				}
			}
		})
	}
}
