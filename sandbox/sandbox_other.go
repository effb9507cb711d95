//go:build !linux

package sandbox

import (
	"context"

	"github.com/bulwark-agents/bulwark"
)

// Report says what this host can enforce; off Linux, nothing.
type Report struct {
	Missing []string `json:"missing,omitempty"`
}

// OK reports whether the sandbox can run on this host.
func (r Report) OK() bool { return len(r.Missing) == 0 }

// Problem is one line naming what is missing.
func (r Report) Problem() string { return "sandbox unavailable: " + r.Missing[0] }

// Check reports that the sandbox needs Linux.
func Check() Report { return Report{Missing: []string{"the sandbox needs Linux"}} }

type box struct{}

func start(Spec) (*box, error) {
	return nil, bulwark.Errorf(bulwark.Unavailable, "sandbox.start", "sandbox unavailable: the sandbox needs Linux (BULWARK_SANDBOX=off runs commands unsandboxed)")
}

func (b *box) run(context.Context, []string, stdio) (*Result, error) { return nil, nil }
func (b *box) cleanup()                                              {}

func (b *box) launch(context.Context, []string) (*Process, error) { return nil, nil }

// RootNeeded: off Linux there is no sandbox to need it.
func RootNeeded() (bool, []string) { return false, nil }
