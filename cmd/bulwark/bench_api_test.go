package main

import (
	"context"
	"testing"
	"time"
)

// TestBenchAPIRuns runs the API benchmark small: it must finish with
// every figure measured (no speed is asserted). More subscribers than the
// server's default stream caps per key and per address (16, 32), which
// the bench must raise as its default of 200 needs.
func TestBenchAPIRuns(t *testing.T) {
	rep, err := runAPIBench(context.Background(), 2, 100*time.Millisecond, 40, 3)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BareRPS <= 0 || rep.FullRPS <= 0 || rep.SSEEvents < 3 || rep.SSEEventsPerSec <= 0 {
		t.Errorf("report = %+v, want every figure measured", rep)
	}
}
