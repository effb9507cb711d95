package fdtable

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fdSize is the size of this process's table of descriptors (FDSize in
// /proc/self/status).
func fdSize(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "FDSize:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("FDSize %q: %v", v, err)
			}
			return n
		}
	}
	t.Skip("no FDSize in /proc/self/status")
	return 0
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	return len(entries)
}

// Reserve grows the table to hold n descriptors, or as many as the soft
// limit allows, and leaves no descriptor open.
func TestReserveGrowsTheTable(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// More than a test process holds (its table starts at 64 slots),
	// within the limit.
	n := min(3000, int(lim.Cur))
	if n <= 2*fdSize(t) {
		t.Skipf("RLIMIT_NOFILE %d leaves nothing to grow (FDSize %d)", lim.Cur, fdSize(t))
	}
	open := openFDs(t)
	if err := Reserve(n); err != nil {
		t.Fatalf("Reserve(%d): %v", n, err)
	}
	if got := fdSize(t); got < n {
		t.Errorf("after Reserve(%d), FDSize %d, want at least %d", n, got, n)
	}
	if got := openFDs(t); got != open {
		t.Errorf("after Reserve(%d), %d descriptors open, want %d as before", n, got, open)
	}
	// Past the limit: as far as it goes, no error.
	if lim.Cur < 1<<16 {
		if err := Reserve(int(lim.Cur) + 1000); err != nil {
			t.Errorf("Reserve past RLIMIT_NOFILE %d: %v", lim.Cur, err)
		}
		if got := fdSize(t); got < int(lim.Cur) {
			t.Errorf("after Reserve past RLIMIT_NOFILE %d, FDSize %d", lim.Cur, got)
		}
	}
}
