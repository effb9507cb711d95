package taskenv

import (
	"slices"
	"testing"
)

// TestKnownToolsCoverTaskTools: the tools policy rules are checked against
// include every tool a task can be given, so no valid rule is refused.
func TestKnownToolsCoverTaskTools(t *testing.T) {
	reg, err := Tools([]string{"example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var known []string
	for _, k := range KnownTools() {
		known = append(known, k.Name())
	}
	for _, n := range reg.Names() {
		if !slices.Contains(known, n) {
			t.Errorf("task tool %s is not among the known tools %q", n, known)
		}
	}
}
