package sandbox

import (
	"context"
	"strings"
	"testing"
)

// The init's own stamps pass the checks addInit makes of a reply: a real
// sandbox's trace has them, between the host's marks.
func TestTraceHasTheInitsPhases(t *testing.T) {
	requireSandbox(t)
	tr := &Trace{}
	if _, err := Run(context.Background(), Spec{AllowExec: []string{"true"}, Trace: tr}, []string{"true"}); err != nil {
		t.Fatal(err)
	}
	phases := tr.Phases()
	var init int
	for _, p := range phases {
		if strings.HasPrefix(p.Name, "init: ") {
			init++
		}
	}
	if init == 0 || strings.HasPrefix(phases[0].Name, "init: ") {
		t.Errorf("trace = %v, want the init's phases after the host's first", phases)
	}
}

// The init detaches its old root beside the rest of its set-up and waits
// for it after its restrictions and before it says it is ready: its
// trace has the detach's end there, and the command finds one mount on
// its root, the sandbox's, none stacked on it.
func TestInitDetachesItsOldRootBeforeReady(t *testing.T) {
	requireSandbox(t)
	tr := &Trace{}
	res, err := Run(context.Background(), Spec{AllowExec: []string{"cat"}, Trace: tr}, []string{"cat", "/proc/self/mountinfo"})
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]int{}
	phases := tr.Phases()
	for i, p := range phases {
		at[p.Name] = i
	}
	restricted, ok1 := at["init: capabilities, Landlock, seccomp applied"]
	detached, ok2 := at["init: old root detached"]
	ready, ok3 := at["host: init ready"]
	if !ok1 || !ok2 || !ok3 || !(restricted < detached && detached < ready) {
		t.Errorf("trace = %v, want the old root's detach after the restrictions, before the init is ready", phases)
	}
	roots := 0
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == "/" {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("%d mounts on the command's root, want 1:\n%s", roots, res.Stdout)
	}
}
