package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"sort"

	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/guard/measure"
)

// Flags of -eval FILE...; registered here so main.go only needs the one
// line that calls evalFiles.
var (
	evalThreshold = flag.Float64("eval-threshold", 0, "with -eval FILE..., the threshold (default guard.DefaultThreshold())")
	evalMisses    = flag.Int("eval-misses", 0, "with -eval FILE..., list this many of the worst wrong verdicts per class")
)

// evalFiles measures the embedded model (guard.Analyze, whatever model
// guard ships) on labelled JSONL files and prints Markdown tables per
// source:
//
//	go run ./guard/train -eval /tmp/guard-corpus/heldout.jsonl guard/testdata/eval/*.jsonl
func evalFiles(paths []string) {
	exs, err := measure.Load(paths...)
	if err != nil {
		log.Fatal(err)
	}
	t := guard.DefaultThreshold()
	if *evalThreshold > 0 {
		t = *evalThreshold
	}
	fmt.Printf("Model: guard.Analyze(text).Score on %v\n", paths)
	scores := measure.Report(os.Stdout, exs, func(s string) float64 { return guard.Analyze(s).Score }, t, measure.DefaultGroupings)
	if *evalMisses > 0 {
		printMisses(exs, scores, t, *evalMisses)
	}
}

// printMisses lists the injections scored lowest and the benign texts
// scored highest among the wrong verdicts.
func printMisses(exs []measure.Example, scores []float64, t float64, n int) {
	var fn, fp []int
	for i, e := range exs {
		switch flagged := scores[i] >= t; {
		case e.Injection() && !flagged:
			fn = append(fn, i)
		case !e.Injection() && flagged:
			fp = append(fp, i)
		}
	}
	sort.SliceStable(fn, func(a, b int) bool { return scores[fn[a]] < scores[fn[b]] })
	sort.SliceStable(fp, func(a, b int) bool { return scores[fp[a]] > scores[fp[b]] })
	for _, c := range []struct {
		name string
		idx  []int
	}{{"missed injections", fn}, {"flagged benign texts", fp}} {
		fmt.Printf("\n%s (%d; score, source, start of text):\n", c.name, len(c.idx))
		for k, i := range c.idx {
			if k == n {
				break
			}
			fmt.Printf("- %.3f %s: %.160q\n", scores[i], exs[i].Source, exs[i].Text)
		}
	}
}
