package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

func init() {
	register("bench", "measure speed: bench agents|sandbox|... [--json]", cmdBench)
}

// benchmarks are the subcommands of `bulwark bench`; each file that adds
// one calls registerBench from init.
var benchmarks = map[string]func(ctx context.Context, args []string, s stdio) int{}

func registerBench(name string, run func(ctx context.Context, args []string, s stdio) int) {
	benchmarks[name] = run
}

const benchUsage = `Usage:
  bulwark bench %s [FLAGS]

Measures this host: agents runs many agents at once against a fake model,
api the HTTP API in process, sandbox the start-up of sandboxes, cluster
tasks through 1 and N 'bulwark serve' nodes on SQLite and PostgreSQL,
injection what instructions planted in documents make an agent do in each
taint mode. Each prints a report (--json for JSON). 'bulwark help bench
NAME' lists its flags.

Example:
  bulwark bench agents --tasks 100 --steps 5`

func cmdBench(ctx context.Context, args []string, s stdio) int {
	names := make([]string, 0, len(benchmarks))
	for n := range benchmarks {
		names = append(names, n)
	}
	slices.Sort(names)
	usage := fmt.Sprintf(benchUsage, strings.Join(names, "|"))
	if code, done := helpRequested(args, usage, s); done {
		return code
	}
	if benchmarks[args[0]] == nil {
		return fail(s, usagef("bench: unknown benchmark %q: %s", args[0], strings.Join(names, ", ")))
	}
	return benchmarks[args[0]](ctx, args[1:], s)
}
