//go:build !linux

package sandbox

import (
	"context"

	"github.com/bulwark-agents/bulwark"
)

var checkOnce = func() Report { return Report{Missing: []string{"the sandbox needs Linux"}} }

// Check reports that the sandbox needs Linux.
func Check() Report { return checkOnce() }

// UIDRangeClashes: off Linux there are no sandbox uids.
func UIDRangeClashes() []string { return nil }

type box struct{}

func endSpare() {}

// EndEarlyInit: off Linux no init is started early.
func EndEarlyInit() {}

func start(Spec) (*box, error) {
	return nil, bulwark.Errorf(bulwark.Unavailable, "sandbox.start", "sandbox unavailable: the sandbox needs Linux (BULWARK_SANDBOX=off runs commands unsandboxed)")
}

func begin(spec Spec) (*box, error) { return start(spec) }

func (b *box) run(context.Context, []string, stdio) (*Result, error) { return nil, nil }
func (b *box) cleanup()                                              {}
func (b *box) discard()                                              {}
func (b *box) endAfterRun()                                          {}

func (b *box) launch(context.Context, []string) (*Process, error) { return nil, nil }

// RootNeeded: off Linux there is no sandbox to need it.
func RootNeeded() (bool, []string) { return false, nil }

type coverage struct{}

func (c *coverage) uncovered() (string, error) { return "", nil }

func (c *coverage) covers(string) bool { return false }
