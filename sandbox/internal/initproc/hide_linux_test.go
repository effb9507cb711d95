package initproc

import (
	"path"
	"strings"
	"testing"
)

// checkHidden accepts only paths strictly below the workspace: whatever
// a host (or a tampered message) sends, a path it lets through, joined
// to /workspace, stays below it.
func FuzzCheckHidden(f *testing.F) {
	for _, s := range []string{"secrets/k", "a/../b", "..", "../x", "/etc", ".", "", "a//b", "a/./b", "x\x00y", "...", "..a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkHidden([]string{p}) != nil {
			return
		}
		j := path.Join(WorkspaceDir, p)
		if !strings.HasPrefix(j, WorkspaceDir+"/") || j != WorkspaceDir+"/"+p {
			t.Errorf("checkHidden(%q) accepted it; joined it is %q", p, j)
		}
	})
}

func TestCheckHiddenBounds(t *testing.T) {
	many := make([]string, MaxHidden+1)
	for i := range many {
		many[i] = "f"
	}
	if checkHidden(many) == nil {
		t.Errorf("checkHidden of %d paths accepted, want at most %d", len(many), MaxHidden)
	}
}
