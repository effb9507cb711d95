package sandbox

import (
	"time"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

type initStamp = initproc.Stamp

// Monotonic reads CLOCK_MONOTONIC, the clock of Trace: the sandbox init
// and the host read the same one.
func Monotonic() time.Duration { return time.Duration(initproc.Monotonic()) }
