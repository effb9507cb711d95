package main

import (
	"math"
	"testing"
	"time"
)

// The agents bench runs every task to its end with the lean fake server
// and prepared turns, streamed or buffered, through the lean transport
// or net/http's: every step's tool call runs and every task finishes.
func TestBenchAgentsRuns(t *testing.T) {
	for _, c := range []struct{ flush, std bool }{{false, false}, {true, false}, {false, true}} {
		flush := c.flush
		rep, err := runAgentsBench(t.Context(), 20, 4, time.Millisecond, flush, c.std)
		if err != nil {
			t.Fatal(err)
		}
		// 4 write_file calls and finish per task, one model call per step.
		if rep.Failed != 0 || rep.ModelCalls != 20*4 || rep.ToolCallsRun != 20*5 || rep.FirstTurnsMS <= 0 {
			t.Errorf("flush %v: %+v", flush, rep)
		}
		// The CPU is the user and system time of the run, each counted.
		if rep.UserCPUMS <= 0 || rep.SysCPUMS < 0 || math.Abs(rep.UserCPUMS+rep.SysCPUMS-rep.CPUMS) > 1e-6 || rep.MinorFaults < 0 {
			t.Errorf("flush %v: CPU %v ms is not user %v + system %v ms, or %d faults", flush, rep.CPUMS, rep.UserCPUMS, rep.SysCPUMS, rep.MinorFaults)
		}
		// Every step is timed, and none comes sooner than the model's
		// latency after the one before.
		if rep.FirstStepMS < 1 || len(rep.StepMS) != 3 || len(rep.StepP90MS) != 3 {
			t.Errorf("flush %v: steps timed %v, then %v, %v; want the first and 3 more", flush, rep.FirstStepMS, rep.StepMS, rep.StepP90MS)
		}
		for k := range rep.StepMS {
			if rep.StepMS[k] < 1 || rep.StepP90MS[k] < rep.StepMS[k] {
				t.Errorf("flush %v: step %d took %v ms (median), %v (90th percentile); want at least the 1 ms latency, ordered", flush, k+2, rep.StepMS[k], rep.StepP90MS[k])
			}
		}
	}
}
