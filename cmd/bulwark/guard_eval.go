package main

import (
	"context"
	"fmt"

	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/guard/measure"
)

const guardEvalUsage = `Usage: bulwark guard eval [--threshold T] FILE.jsonl...

Scores every line {"text": "...", "label": "injection"|"benign", "source": "..."} of the
files with the built-in guard and prints Markdown tables: overall, per source kind, per
source (and attack family), planted attacks by host document, attacks by language; each
with n, recall, false-positive rate, precision, F1 and ROC AUC at the threshold used.

Example:
  bulwark guard eval guard/testdata/eval/*.jsonl`

// runGuardEval measures the built-in guard on labelled files, the same
// figures as go run ./guard/train -eval FILE..., from the shipped binary.
func runGuardEval(_ context.Context, args []string, s stdio) int {
	fs := newFlagSet("guard eval", guardEvalUsage)
	threshold := fs.Float64("threshold", 0, fmt.Sprintf("score from which a text is an injection (default %.2f)", guard.DefaultThreshold()))
	files, err := fs.parseMixed(args, s)
	if err != nil {
		return fail(s, err)
	}
	if len(files) == 0 {
		return fail(s, usagef("guard eval: no FILE.jsonl given"))
	}
	if *threshold < 0 || *threshold > 1 {
		return fail(s, usagef("guard eval: --threshold must be between 0 and 1"))
	}
	t := guard.DefaultThreshold()
	if *threshold > 0 {
		t = *threshold
	}
	exs, err := measure.Load(files...)
	if err != nil {
		return fail(s, fmt.Errorf("guard eval: %w", err))
	}
	measure.Report(s.out, exs, func(text string) float64 { return guard.Score(text).Score }, t, measure.DefaultGroupings)
	return exitOK
}
