package sandbox

import (
	"slices"
	"sync"
	"time"
)

// Trace records when each phase of one sandbox's life ended: the host's
// steps (checks, uid lease, cgroups, the init's fork, the workspace mount,
// the exec plan) and the init's (its start, the file system, Landlock and
// seccomp, the command's execve), on the one monotonic clock the host and
// the init share. `bulwark sandbox exec --debug` prints it; BENCHMARKS.md
// quotes it. A nil *Trace records nothing. Safe for concurrent use.
type Trace struct {
	mu     sync.Mutex
	phases []Phase
}

// Phase is the end of one step: At is a reading of the monotonic clock
// (CLOCK_MONOTONIC on Linux), comparable across the processes of one host.
type Phase struct {
	Name string        `json:"name"`
	At   time.Duration `json:"at_ns"`
}

// Mark records that the phase name ended now.
func (t *Trace) Mark(name string) {
	if t != nil {
		t.add(name, Monotonic())
	}
}

func (t *Trace) add(name string, at time.Duration) {
	t.mu.Lock()
	t.phases = append(t.phases, Phase{Name: name, At: at})
	t.mu.Unlock()
}

// Phases returns the phases recorded so far, oldest first.
func (t *Trace) Phases() []Phase {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	out := slices.Clone(t.phases)
	t.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Phase) int { return int(a.At - b.At) })
	return out
}

// maxInitPhases bounds what an init may add to a trace: its replies are
// read, never trusted (see initproc).
const maxInitPhases = 16

// addInit adds the phases an init reported, under the "init: " prefix.
func (t *Trace) addInit(stamps []initStamp) {
	if t == nil {
		return
	}
	for i, s := range stamps {
		if i == maxInitPhases {
			break
		}
		name := s.Name
		if len(name) > 40 {
			name = name[:40]
		}
		t.add("init: "+name, time.Duration(s.At))
	}
}
