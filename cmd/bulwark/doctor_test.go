package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDoctor(t *testing.T) {
	data := t.TempDir()
	os.Chmod(data, 0o700)
	base := []string{"BULWARK_DATA=" + data}
	if r := runBulwark(t, base, "run", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "x"); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	tests := []struct {
		name  string
		env   []string
		setup func()
		fail  string // a check that must fail; "" for none
	}{
		{"audit off", []string{"BULWARK_AUDIT=off"}, nil, "audit log"},
		{"sandbox off", []string{"BULWARK_SANDBOX=off"}, nil, "sandbox"},
		{"unconfined", []string{"BULWARK_RESTRICT_TO_WORKSPACE=false"}, nil, "workspace confinement"},
		{"rate limit off", []string{"BULWARK_RATE_LIMIT=off"}, nil, "rate limiting"},
		{"wrong master key", []string{"BULWARK_MASTER_KEY=" + strings.Repeat("A", 43) + "="}, nil, "store"},
		{"open data folder", nil, func() { os.Chmod(data, 0o755) }, "data folder"},
		{"tampered audit log", nil, func() {
			os.Chmod(data, 0o700)
			p := filepath.Join(data, "audit", "audit.log")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), "task.start", "task.stArt", 1)), 0o600)
		}, "audit log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			r := runBulwark(t, append(base, tt.env...), "doctor")
			line := ""
			for _, l := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(l, "FAIL") && strings.Contains(l, tt.fail) {
					line = l
				}
			}
			if r.code != 1 || line == "" {
				t.Errorf("exit %d, want 1 with %q failing:\n%s%s", r.code, tt.fail, r.stdout, r.stderr)
			}
		})
	}
}
