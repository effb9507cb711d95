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
