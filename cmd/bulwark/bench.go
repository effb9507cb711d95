package main

import (
	"context"
	"fmt"
	"strings"
)

// benchmarks are the subcommands of `bulwark bench`, sorted by name (a
// static table: no init work, as for commands).
var benchmarks = []command{
	{"agents", "", benchAgents},
	{"api", "", benchAPI},
	{"cluster", "", benchCluster},
	{"injection", "", benchInjection},
	{"sandbox", "", benchSandbox},
}

// benchmark is the benchmark called name, or nil.
func benchmark(name string) func(ctx context.Context, args []string, s stdio) int {
	for _, b := range benchmarks {
		if b.name == name {
			return b.run
		}
	}
	return nil
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
	for _, b := range benchmarks {
		names = append(names, b.name)
	}
	usage := fmt.Sprintf(benchUsage, strings.Join(names, "|"))
	if code, done := helpRequested(args, usage, s); done {
		return code
	}
	if args[0] == modelServerCmd { // bench agents' own, unlisted
		return serveBenchModel(ctx, args[1:], s)
	}
	run := benchmark(args[0])
	if run == nil {
		return fail(s, usagef("bench: unknown benchmark %q: %s", args[0], strings.Join(names, ", ")))
	}
	return run(ctx, args[1:], s)
}
