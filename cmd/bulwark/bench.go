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

func cmdBench(ctx context.Context, args []string, s stdio) int {
	names := make([]string, 0, len(benchmarks))
	for n := range benchmarks {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(args) == 0 || benchmarks[args[0]] == nil {
		fmt.Fprintf(s.err, "Usage: bulwark bench %s [FLAGS]\n", strings.Join(names, "|"))
		return exitUsage
	}
	return benchmarks[args[0]](ctx, args[1:], s)
}
