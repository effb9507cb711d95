package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/workspace"
)

func TestReadInjectionSettings(t *testing.T) {
	old := env
	t.Cleanup(func() { env = old })
	vars := map[string]string{}
	env = func(k string) string { return vars[k] }
	var w strings.Builder
	s, err := readInjectionSettings(&w, "", "")
	if err != nil || s.taint != bulwark.TaintDetected || s.spotlight != guard.SpotlightDelimit || w.Len() != 0 {
		t.Fatalf("defaults = %+v, %v, %q; want detected, delimit, no warning", s, err, w.String())
	}
	vars["BULWARK_TAINT"], vars["BULWARK_SPOTLIGHT"] = "source", "datamark"
	if s, err = readInjectionSettings(&w, "", ""); err != nil || s.taint != bulwark.TaintSource || s.spotlight != guard.SpotlightDatamark {
		t.Errorf("from the environment = %+v, %v", s, err)
	}
	// A flag wins over the variable.
	if s, err = readInjectionSettings(&w, "off", "delimit"); err != nil || s.taint != bulwark.TaintOff || s.spotlight != guard.SpotlightDelimit {
		t.Errorf("from flags = %+v, %v", s, err)
	}
	if !strings.Contains(w.String(), "WARNING: BULWARK_TAINT=off") {
		t.Errorf("no warning for taint off: %q", w.String())
	}
	for _, tt := range []struct{ taint, spot, envTaint, want string }{
		{"", "", "strict", `BULWARK_TAINT="strict": want detected`},
		{"Source", "", "", `--taint="Source": want detected`},
		{"", "encode", "", `--spotlight="encode": want delimit`},
	} {
		vars["BULWARK_TAINT"], vars["BULWARK_SPOTLIGHT"] = tt.envTaint, ""
		_, err := readInjectionSettings(&w, tt.taint, tt.spot)
		if _, usage := err.(usageError); !usage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("readInjectionSettings(%q, %q) with BULWARK_TAINT=%q: %v, want a usage error with %q", tt.taint, tt.spot, tt.envTaint, err, tt.want)
		}
	}
	// A tenant makes it stricter, never weaker.
	for _, tt := range []struct{ op, tenant, want bulwark.TaintMode }{
		{bulwark.TaintDetected, "", bulwark.TaintDetected},
		{bulwark.TaintDetected, bulwark.TaintSource, bulwark.TaintSource},
		{bulwark.TaintDetected, bulwark.TaintOff, bulwark.TaintDetected},
		{bulwark.TaintSource, bulwark.TaintDetected, bulwark.TaintSource},
		{bulwark.TaintOff, bulwark.TaintDetected, bulwark.TaintDetected},
		{bulwark.TaintOff, "", bulwark.TaintDetected},
		{bulwark.TaintOff, bulwark.TaintOff, bulwark.TaintOff},
	} {
		if got := (injectionSettings{taint: tt.op}).forTenant(tt.tenant); got != tt.want {
			t.Errorf("operator %s, tenant %q: %s, want %s", tt.op, tt.tenant, got, tt.want)
		}
	}
}

// bulwark run --taint source: a file the guard does not flag taints the
// task, and the prompt for the later write outside scratch/ says which
// file and the guard's score. Without --taint the write runs.
func TestRunTaintSource(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir,
		[2]string{"read_file", `{"path": "notes.txt"}`},
		[2]string{"write_file", `{"path": "main.py", "content": "print(1)"}`})
	for _, tt := range []struct {
		args    []string
		written bool
	}{
		{[]string{"--taint", "source"}, false},
		{nil, true},
		{[]string{"--taint", "detected"}, true},
	} {
		ws := t.TempDir()
		if err := os.WriteFile(filepath.Join(ws, "notes.txt"), []byte("Release notes: faster start-up.\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"run", "--model", "replay:" + script, "--workspace", ws, "--approve", "ask"}, tt.args...)
		r := runBulwarkIn(t, nil, "n\n", append(args, "update main.py")...)
		_, err := os.Stat(filepath.Join(ws, "main.py"))
		if written := err == nil; written != tt.written {
			t.Errorf("run %v: main.py written = %v, want %v\nstdout %s\nstderr %s", tt.args, written, tt.written, r.stdout, r.stderr)
		}
		if !tt.written && (!strings.Contains(r.stderr, "read_file: notes.txt (guard score") || !strings.Contains(r.stderr, "not flagged")) {
			t.Errorf("run %v: the approval prompt does not say which text tainted the task and its score:\n%s", tt.args, r.stderr)
		}
	}
	r := runBulwark(t, nil, "run", "--taint", "strict", "--model", "replay:"+script, "--workspace", t.TempDir(), "task")
	if r.code != 2 || !strings.Contains(r.stderr, `--taint="strict": want detected`) {
		t.Errorf("run --taint strict: exit %d, stderr %q; want exit 2 naming the modes", r.code, r.stderr)
	}
}

// A served task runs in the stricter of the operator's taint mode and its
// tenant's, with the operator's spotlight.
func TestPrepareTaskTaint(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, tt := range []struct{ op, tenant, want bulwark.TaintMode }{
		{bulwark.TaintDetected, bulwark.TaintSource, bulwark.TaintSource},
		{bulwark.TaintSource, bulwark.TaintOff, bulwark.TaintSource},
		{bulwark.TaintDetected, bulwark.TaintOff, bulwark.TaintDetected},
		{bulwark.TaintOff, "", bulwark.TaintDetected},
		{bulwark.TaintOff, bulwark.TaintOff, bulwark.TaintOff},
	} {
		store := fakeTaskStore{settings: bulwark.Settings{Model: "openai:gpt-test", Taint: tt.tenant},
			secrets: map[string]string{bulwark.ModelAPIKeySecret: "sk-x"}}
		inj := injectionSettings{taint: tt.op, spotlight: guard.SpotlightDatamark}
		setup, err := prepareTask(store, "", tenantLimits{}, false, nil, mcpclient.Config{}, nil, inj)(context.Background(), bulwark.Task{ID: "t_1", TenantID: "tn_1"}, ws)
		if err != nil {
			t.Fatal(err)
		}
		setup.Close()
		if setup.Taint != tt.want || setup.Spotlight != guard.SpotlightDatamark {
			t.Errorf("operator %s, tenant %q: the task runs in %s, %s; want %s, datamark", tt.op, tt.tenant, setup.Taint, setup.Spotlight, tt.want)
		}
	}
}
