// Command standalone is the sandbox init on its own: package initproc and
// what it imports, about 2.0 MB against bulwark's 44. The sandbox starts it
// instead of re-executing the whole binary when it is embedded and fresh
// (go generate ./sandbox; see sandbox/initbin/README.md): it is loaded and
// initialized in less time, and every sandbox start waits for that.
//
// It is never run by hand: package initproc takes over from its init
// function when the sandbox starts it under the init's name.
package main

import (
	"fmt"
	"os"

	_ "github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

func main() {
	fmt.Fprintln(os.Stderr, "this is bulwark's sandbox init; the sandbox starts it, it is not run by hand")
	os.Exit(2)
}
