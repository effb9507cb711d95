package main

import (
	"encoding/json"
	"testing"

	"github.com/bulwark-agents/bulwark/internal/testfamily"
)

// TestBenchClusterRuns runs the cluster benchmark small, through the
// built binary (its nodes are that binary): every run must end with its
// tasks done and its figures measured (no speed is asserted). With the
// PostgreSQL family it makes the runs on PostgreSQL too.
func TestBenchClusterRuns(t *testing.T) {
	extra := []string{}
	want := 1
	if testfamily.Postgres.Enabled() {
		extra = append(extra, "BULWARK_DATABASE_URL="+testfamily.Postgres.Value())
		want = 3
	}
	res := runBulwark(t, extra, "bench", "cluster", "--nodes", "2", "--tasks", "6", "--steps", "1", "--json")
	if res.code != 0 {
		t.Fatalf("bench cluster: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	var runs []clusterRun
	if err := json.Unmarshal([]byte(res.stdout), &runs); err != nil {
		t.Fatalf("bench cluster --json: %v\n%s", err, res.stdout)
	}
	if len(runs) != want {
		t.Fatalf("%d runs, want %d: %+v", len(runs), want, runs)
	}
	for _, r := range runs {
		if r.Tasks != 6 || r.Failed != 0 || r.TasksPerSec <= 0 || r.QueueP50MS <= 0 {
			t.Errorf("run %+v: want 6 tasks, none failed, every figure measured", r)
		}
	}
}
