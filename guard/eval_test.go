package guard_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/guard/measure"
)

// floor is what the model must keep on one file of testdata/eval.
type floor struct {
	MinRecall float64 `json:"min_recall"`
	MaxFPR    float64 `json:"max_fpr"`
}

func loadFloors(t *testing.T) map[string]floor {
	t.Helper()
	raw, err := os.ReadFile("testdata/eval/floors.json")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]floor{}
	for name, v := range all {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var f floor
		if err := json.Unmarshal(v, &f); err != nil {
			t.Fatalf("floors.json: %s: %v", name, err)
		}
		out[name] = f
	}
	return out
}

// TestEvalFloors keeps the model from getting silently worse: on the fixed
// held-out split in testdata/eval (texts no training run sees), recall and
// the false-positive rate at the default threshold must stay at least as
// good as recorded in testdata/eval/floors.json.
func TestEvalFloors(t *testing.T) {
	floors := loadFloors(t)
	files, err := filepath.Glob("testdata/eval/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no eval files: %v", err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		seen[name] = true
		f, ok := floors[name]
		if !ok {
			t.Errorf("%s has no floors in testdata/eval/floors.json", name)
			continue
		}
		exs, err := measure.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		scores := measure.Scores(exs, func(s string) float64 { return guard.Score(s).Score })
		m := measure.Measure(name, exs, scores, nil, guard.DefaultThreshold())
		t.Logf("%s: %d texts, recall %.3f (floor %.3f), FPR %.3f (ceiling %.3f), AUC %.3f",
			name, m.N(), m.Recall(), f.MinRecall, m.FPR(), f.MaxFPR, m.AUC)
		// Compare at the three decimals the floors are written with.
		if round3(m.Recall()) < f.MinRecall {
			t.Errorf("%s: recall %.3f is below its floor %.3f", name, m.Recall(), f.MinRecall)
		}
		if round3(m.FPR()) > f.MaxFPR {
			t.Errorf("%s: false-positive rate %.3f is above its ceiling %.3f", name, m.FPR(), f.MaxFPR)
		}
	}
	for name := range floors {
		if !seen[name] {
			t.Errorf("floors.json names %s, which is not in testdata/eval", name)
		}
	}
}

// TestEvalFloorsMatchBenchmarks keeps BENCHMARKS.md and floors.json saying
// the same thing.
func TestEvalFloorsMatchBenchmarks(t *testing.T) {
	doc, err := os.ReadFile("../BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range loadFloors(t) {
		row := fmt.Sprintf("| `%s` | %.3f | %.3f |", name, f.MinRecall, f.MaxFPR)
		if !strings.Contains(string(doc), row) {
			t.Errorf("BENCHMARKS.md lacks the row %q that floors.json records", row)
		}
	}
}

func round3(x float64) float64 { return float64(int(x*1000+0.5)) / 1000 }
