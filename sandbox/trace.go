package sandbox

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
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

// SparePhase is the phase a sandbox's trace has when its init was one
// started ahead (a spare init), in place of the init's fork.
const SparePhase = "host: init taken from a spare (forked ahead)"

// EarlyPhase is the phase a sandbox's trace has when its init was the
// one this process started as it started (earlyInit).
const EarlyPhase = "host: init taken, started with the process"

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
	slices.SortStableFunc(out, func(a, b Phase) int { return cmp.Compare(a.At, b.At) })
	return out
}

// maxInitPhases bounds what an init may add to a trace: its replies are
// read, never trusted (see initproc).
const maxInitPhases = 16

// addInit adds the phases an init reported, under the "init: " prefix. A
// stamp the clock cannot have read (not after the clock's start, or later
// than now, as the host reads the reply) is dropped; a name is cut at 40
// bytes on a character's boundary, with anything but printable text
// replaced, since `bulwark sandbox exec --debug` prints it on a terminal.
func (t *Trace) addInit(stamps []initStamp) {
	if t == nil {
		return
	}
	now := Monotonic()
	for i, s := range stamps {
		if i == maxInitPhases {
			break
		}
		at := time.Duration(s.At)
		if at <= 0 || at > now {
			continue
		}
		t.add("init: "+printableName(s.Name, 40), at)
	}
}

// printableName is name cut to at most max bytes, each rune that is not
// printable (or not valid UTF-8) replaced by '?'.
func printableName(name string, max int) string {
	var b strings.Builder
	for _, r := range name {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
