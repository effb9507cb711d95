package main

import (
	"strings"
	"testing"
)

// The sandbox's write limits come from the environment into every task's
// sandbox, and a value that does not parse is refused at start, not
// replaced by the default without a word.
func TestSandboxWriteLimits(t *testing.T) {
	old := env
	t.Cleanup(func() { env = old })
	vars := map[string]string{}
	env = func(k string) string { return vars[k] }

	vars["BULWARK_SANDBOX_MAX_FILE_SIZE"] = "64MiB"
	vars["BULWARK_WORKSPACE_MAX_SIZE"] = "2GiB"
	vars["BULWARK_WORKSPACE_MAX_FILES"] = "5000"
	vars["BULWARK_SANDBOX_WX_MEMORY"] = "deny"
	o := sandboxOptions(nil, nil)
	if o.WriteExecMemory != "deny" {
		t.Errorf("sandboxOptions: WriteExecMemory %q, want deny", o.WriteExecMemory)
	}
	if o.MaxFileSize != 64<<20 || o.WorkspaceSize != 2<<30 || o.WorkspaceFiles != 5000 {
		t.Errorf("sandboxOptions = file %d, workspace %d bytes, %d files; want %d, %d, 5000", o.MaxFileSize, o.WorkspaceSize, o.WorkspaceFiles, 64<<20, 2<<30)
	}
	if err := checkSandboxSettings(); err != nil {
		t.Errorf("checkSandboxSettings: %v", err)
	}
	for name, bad := range map[string]string{
		"BULWARK_SANDBOX_MAX_FILE_SIZE": "lots",
		"BULWARK_WORKSPACE_MAX_SIZE":    "0",
		"BULWARK_WORKSPACE_MAX_FILES":   "1e5",
		"BULWARK_SANDBOX_WX_MEMORY":     "maybe",
	} {
		was := vars[name]
		vars[name] = bad
		if err := checkSandboxSettings(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: checkSandboxSettings = %v, want an error naming it", name, bad, err)
		}
		vars[name] = was
	}
}
