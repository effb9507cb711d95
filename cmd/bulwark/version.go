package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func cmdVersion(_ context.Context, args []string, s stdio) int {
	fs := newFlagSet("version", "Usage: bulwark version\n\nPrints the version of this binary.\n\nExample:\n  bulwark version")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintf(s.out, "bulwark %s\n", v)
	return exitOK
}
