package main

import (
	"testing"
	"time"
)

// The agents bench runs every task to its end with the lean fake server
// and prepared turns, streamed or buffered: every step's tool call runs
// and every task finishes.
func TestBenchAgentsRuns(t *testing.T) {
	for _, flush := range []bool{false, true} {
		rep, err := runAgentsBench(t.Context(), 20, 4, time.Millisecond, flush)
		if err != nil {
			t.Fatal(err)
		}
		// 4 write_file calls and finish per task, one model call per step.
		if rep.Failed != 0 || rep.ModelCalls != 20*4 || rep.ToolCallsRun != 20*5 || rep.FirstTurnsMS <= 0 {
			t.Errorf("flush %v: %+v", flush, rep)
		}
	}
}
