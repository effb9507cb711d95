package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/audit"
)

// TestAuditVerifyFindsARewriteWithoutCheckpoints: whoever can write the
// audit folder, but not the signing key, rewrites a record of a run's
// tenant chain, recomputes every hash after it and deletes the
// checkpoints (and the index) that would have told: 'bulwark audit
// verify' still fails, on the records' MACs, whether the forger keeps
// the MACs they found or removes them all (red team, session 42: this
// passed before records had MACs).
func TestAuditVerifyFindsARewriteWithoutCheckpoints(t *testing.T) {
	for _, tt := range []struct {
		name  string
		strip bool
		want  string
	}{
		{"MACs kept", false, "MAC does not match"},
		{"MACs removed", true, "it has no MAC"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			extra := []string{"BULWARK_DATA=" + data}
			if r := runBulwark(t, extra, "run", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "task"); r.code != 0 {
				t.Fatalf("run: exit %d: %s", r.code, r.stderr)
			}
			r := runBulwark(t, extra, "audit", "verify")
			if r.code != 0 || !strings.Contains(r.stdout, "each record's MAC checked") {
				t.Fatalf("verify after a run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			dir, _ := auditPaths(data)
			logs, _ := filepath.Glob(filepath.Join(dir, "tenants", "*.log"))
			if len(logs) == 0 {
				t.Fatal("the run recorded in no tenant chain")
			}
			for _, p := range logs {
				rewriteChain(t, p, tt.strip)
				for _, side := range []string{".checkpoints", ".idx"} {
					if err := os.Remove(p + side); err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
				}
			}
			r = runBulwark(t, extra, "audit", "verify")
			if r.code != 1 || !strings.Contains(r.stderr, "NOT intact") || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("verify of a rewritten chain without checkpoints: exit %d, want 1 and %q\n%s%s", r.code, tt.want, r.stdout, r.stderr)
			}
		})
	}
}

// rewriteChain changes the first record of the chain in path (its actor
// and outcome) and recomputes every hash, as a forger without the
// signing key can; strip removes every record's MAC too.
func rewriteChain(t *testing.T, path string, strip bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	var prev audit.Hash
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r, err := audit.DecodeRecord(line)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			r.Actor, r.Outcome = "nobody", audit.OutcomeOK
		}
		if strip {
			r.MAC = audit.Hash{}
		}
		r.PrevHash = prev
		r.Hash = audit.ComputeHash(&r)
		prev = r.Hash
		enc, err := audit.EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, enc...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
