package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/audit"
)

// TestLegacyAuditLogStillVerifies: a data folder from a release that kept
// one audit chain for every tenant (audit/audit.log, records of several
// tenants, unnamed checkpoints, no index) verifies, keeps verifying once
// new records go to the tenants' own chains, and a change to it is still
// found.
func TestLegacyAuditLogStillVerifies(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	extra := []string{"BULWARK_DATA=" + data}
	logDir, keyPath := auditPaths(data)
	key, _, err := audit.LoadOrCreateSigningKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(logDir, 0o700)
	old := filepath.Join(logDir, "audit.log")
	s, err := audit.OpenFile(old)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.NewLog(ctx, s, audit.Options{SigningKey: key, CheckpointEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"tn_old1", "tn_old2", "", "tn_old1", "tn_old2"} {
		if err := l.Append(ctx, audit.Record{TenantID: tenant, Actor: "cli", Action: "legacy.action", Outcome: audit.OutcomeOK}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	os.Remove(old + ".idx")

	if r := runBulwark(t, extra, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "system chain: 5 records") {
		t.Fatalf("verify of the old log: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runBulwark(t, extra, "run", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "task"); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	r := runBulwark(t, extra, "audit", "verify")
	if r.code != 0 || !strings.Contains(r.stdout, "system chain: 6 records") || !strings.Contains(r.stdout, "2 chains") {
		t.Fatalf("verify after a run: exit %d, want the old chain grown by the new chain's creation, and the tenant's chain\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, _ := os.ReadFile(old)
	os.WriteFile(old, []byte(strings.Replace(string(b), "tn_old2", "tn_old3", 1)), 0o600)
	if r := runBulwark(t, extra, "audit", "verify"); r.code != 1 || !strings.Contains(r.stderr, "system chain is NOT intact") {
		t.Errorf("verify of a changed old log: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
}
