//go:build !linux

package sandbox

import "time"

type initStamp struct {
	Name string
	At   int64
}

var processStart = time.Now()

// Monotonic reads a monotonic clock, the clock of Trace.
func Monotonic() time.Duration { return time.Since(processStart) }
