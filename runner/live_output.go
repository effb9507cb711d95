package runner

import (
	"slices"

	"github.com/bulwark-agents/bulwark"
)

// maxKeptOutput bounds the live output a task keeps for those who start
// watching while a command runs, in bytes of text (the agent sends at
// most 256KiB per call).
const maxKeptOutput = 512 << 10

// keepOutput notes e for subscribers that come later: the pieces of the
// running command's output (tool_output_delta events), which are not
// stored, are kept until the call's result (or the task's end) is, so a
// person who opens the task while a command runs sees what it printed so
// far. Called by the task's sink, before e is stored.
func (l *live) keepOutput(e bulwark.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Type {
	case bulwark.EventToolOutput:
		if l.outputSize+len(e.Text) <= maxKeptOutput {
			l.output = append(l.output, e)
			l.outputSize += len(e.Text)
		}
	case bulwark.EventToolResult, bulwark.EventTaskFinished, bulwark.EventToolCall:
		l.output, l.outputSize = nil, 0
	}
}

// keptOutput returns the kept pieces of output with a Seq after after.
func (l *live) keptOutput(after int64) []bulwark.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.output, after+1, func(e bulwark.Event, seq int64) int { return int(e.Seq - seq) })
	return slices.Clone(l.output[i:])
}
