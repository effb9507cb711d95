package agent

import (
	"testing"

	"github.com/bulwark-agents/bulwark/guard"
)

// TestReplyStreamReusesCheck: each reply of a run checks its texts with
// the check the reply before used, made again for the run's canary
// (guard.Canary.CheckReusing), not a new one; a reply that checked
// nothing hands it on. The check still finds the canary in the next
// reply, and the texts of the reply before are not taken for clean.
func TestReplyStreamReusesCheck(t *testing.T) {
	r := streamRun()
	s := r.newReplyStream()
	first := s.canary()
	if s.carries("Writing the next file.") {
		t.Fatal("a clean text carries the canary")
	}
	s = r.newReplyStream()
	if s.canary() != first {
		t.Error("the second reply made a new check")
	}
	r.newReplyStream() // checks nothing
	s = r.newReplyStream()
	if s.canary() != first {
		t.Error("a reply after one that checked nothing made a new check")
	}
	if !s.carries("the token: " + r.taint.canary.String()) {
		t.Error("the check made again misses the canary")
	}
	r.taint.canary = guard.NewCanary() // a check is made again for the canary of the moment
	s = r.newReplyStream()
	if !s.canary().In(r.taint.canary.String()) {
		t.Error("the check made again looks for the old canary")
	}
}
