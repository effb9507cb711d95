package initproc

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Every command gets RLIMIT_RTPRIO and RLIMIT_NICE at 0, whatever the
// host's: a host that raised them would otherwise let a command take a
// real-time policy (TestSchedulingPinned checks it from inside).
func TestPinnedRlimitsKeepSchedulingDown(t *testing.T) {
	for _, res := range []int{unix.RLIMIT_RTPRIO, unix.RLIMIT_NICE} {
		found := false
		for _, l := range pinnedRlimits {
			if l.res == res {
				found = true
				if l.val != 0 {
					t.Errorf("rlimit %d pinned at %d, want 0", res, l.val)
				}
			}
		}
		if !found {
			t.Errorf("rlimit %d is not pinned: a command inherits the host's", res)
		}
	}
}
