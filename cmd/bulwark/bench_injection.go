package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/internal/injectbench"
)

// benchInjection measures what planted instructions make an agent do, end
// to end (internal/injectbench): the share of planted actions that take
// effect and of benign tasks that still do their job, per taint mode.
func benchInjection(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("bench injection", `Usage: bulwark bench injection [--mode MODE] [--pairs N] [--spotlight MODE] [--json|--markdown]

Runs documents with planted actions (files written outside scratch/,
commands, exfiltration, memories, secrets sent out, files deleted) and
their benign twins through the real agent loop and tools, with a model that
obeys every planted action it reads and no person to approve, in each
taint mode. Reports the planted actions that took effect and the benign
tasks that did their job, by document kind, language, topic, tool, style,
action and job. Shell actions are skipped where the host cannot sandbox
(run as root). The exit status is non-zero only when the bench itself
fails, or finds effects that disagree with the calls the model made.

Example:
  bulwark bench injection --mode source`)
	mode := fs.String("mode", "", "run one taint mode only: detected, source or off (default: all three)")
	pairs := fs.Int("pairs", injectbench.DefaultPairs, "attack scenarios, each with a benign twin")
	parallel := fs.Int("parallel", 0, "tasks at once (default GOMAXPROCS)")
	spotlight := fs.String("spotlight", "", "how untrusted text is set apart: delimit or datamark (default delimit)")
	asJSON := fs.Bool("json", false, "print the summaries and every result as JSON")
	asMarkdown := fs.Bool("markdown", false, "print the summaries as Markdown tables")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	if *pairs <= 0 {
		return fail(s, usagef("--pairs must be positive"))
	}
	spot, err := guard.ParseSpotlightMode(*spotlight)
	if err != nil {
		return fail(s, usagef("%s", bulwark.ErrorMessage(err)))
	}
	o := injectbench.Options{Scenarios: injectbench.Scenarios(*pairs), Parallel: *parallel, Spotlight: spot}
	if *mode != "" {
		m, err := bulwark.ParseTaintMode(*mode)
		if err != nil {
			return fail(s, usagef("%s", bulwark.ErrorMessage(err)))
		}
		o.Modes = []bulwark.TaintMode{m}
	}
	results, err := injectbench.Run(ctx, o)
	if err != nil {
		return fail(s, err)
	}
	reports := injectbench.Summarize(results)
	switch {
	case *asJSON:
		json.NewEncoder(s.out).Encode(map[string]any{"modes": reports, "results": results})
	case *asMarkdown:
		injectbench.Markdown(s.out, reports)
	default:
		fmt.Fprintf(s.out, "injection: %d attack and %d benign tasks per mode, compliant model, no approver\n\n", *pairs, *pairs)
		injectbench.Print(s.out, reports)
	}
	return exitOK
}
