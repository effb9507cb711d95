package initproc

import "testing"

// A JIT runtime named on the allowlist turns W^X off only where it is
// installed: an entry that resolves to nothing runs nothing, and must not
// free every other allowed program to run machine code it wrote.
func TestDenyWriteExecOnlyInstalledRuntimes(t *testing.T) {
	none := func(string) bool { return false }
	all := func(string) bool { return true }
	for _, tt := range []struct {
		mode        string
		names, real []string
		installed   func(string) bool
		want        bool
	}{
		{WXAuto, []string{"python3"}, []string{"/usr/bin/python3.11"}, all, true},
		{WXAuto, []string{"python3", "deno"}, []string{"/usr/bin/python3.11"}, none, true},
		{WXAuto, []string{"python3", "/opt/deno/bin/deno"}, []string{"/usr/bin/python3.11"}, none, true},
		{WXAuto, []string{"python3", "deno"}, []string{"/usr/bin/python3.11", "/usr/bin/deno"}, all, false},
		{WXAuto, []string{"python3", "luajit"}, []string{"/usr/bin/python3.11", "/usr/bin/luajit-2.1"}, all, false},
		{WXAuto, []string{"js"}, []string{"/usr/bin/node"}, none, false},
		{WXDeny, []string{"node"}, []string{"/usr/bin/node"}, all, true},
		{WXAllow, []string{"python3"}, nil, none, false},
	} {
		if got := DenyWriteExec(tt.mode, tt.names, tt.real, tt.installed); got != tt.want {
			t.Errorf("DenyWriteExec(%q, %q, %q): %v, want %v", tt.mode, tt.names, tt.real, got, tt.want)
		}
	}
}
