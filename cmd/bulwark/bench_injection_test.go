package main

import (
	"strings"
	"testing"
)

// A taint mode that does not exist is a usage error, named, before any
// task runs (the bench itself is tested in internal/injectbench).
func TestBenchInjectionRefusesUnknownMode(t *testing.T) {
	r := runBulwark(t, nil, "bench", "injection", "--mode", "sometimes")
	if r.code != exitUsage || !strings.Contains(r.stderr, `unknown taint mode "sometimes"`) {
		t.Errorf("exit %d, stderr %q; want %d and the mode named", r.code, r.stderr, exitUsage)
	}
}
