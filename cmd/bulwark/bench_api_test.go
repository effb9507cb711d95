package main

import (
	"context"
	"testing"
	"time"
)

// TestBenchAPIRuns runs the API benchmark small: it must finish with
// every figure measured (no speed is asserted).
func TestBenchAPIRuns(t *testing.T) {
	rep, err := runAPIBench(context.Background(), 2, 100*time.Millisecond, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BareRPS <= 0 || rep.FullRPS <= 0 || rep.SSEEvents < 3 || rep.SSEEventsPerSec <= 0 {
		t.Errorf("report = %+v, want every figure measured", rep)
	}
}
