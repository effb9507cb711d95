package sqlite

import (
	"context"
	"syscall"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestAuthVersionAcrossProcesses: a change made through one opening of
// the database (another process: its own connections, its own map of the
// version file) moves the version another sees, with no query.
func TestAuthVersionAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	a, b := f.open(t), f.open(t)
	tn := mustTenant(t, a, "acme")
	v0, _, _ := b.AuthVersion(ctx)
	if _, err := a.PutSettings(ctx, tn, bulwark.Settings{Model: "openai:x"}); err != nil {
		t.Fatal(err)
	}
	v1, stable, _ := b.AuthVersion(ctx)
	if v1 == v0 || !stable {
		t.Errorf("after a change through another opening: version %d (was %d), stable %v; want it moved and stable", v1, v0, stable)
	}
}

// TestAuthVersionUnstableDuringChange: while a change is under way in
// another process the version is not stable (so nothing read then is
// cached), and it is not repaired under that process's feet; once no
// process holds the lock, a change left half done by a process that died
// is repaired, and the version is stable again.
func TestAuthVersionUnstableDuringChange(t *testing.T) {
	t.Parallel()
	f := newFolder(t)
	a, b := f.open(t), f.open(t)
	// b is another process in the middle of a change: it holds the
	// shared lock and has moved begun.
	if err := syscall.Flock(int(b.auth.f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	v0, _ := a.auth.version()
	b.auth.begun.Add(1)
	for i := range 2 {
		a.auth.lastRepair.Store(0) // no wait between repairs
		if _, stable := a.auth.version(); stable {
			t.Fatalf("check %d: the version is stable while another process's change is under way", i+1)
		}
	}
	// b dies: the kernel drops its lock; ended was never moved.
	syscall.Flock(int(b.auth.f.Fd()), syscall.LOCK_UN)
	a.auth.lastRepair.Store(0)
	a.auth.version() // repairs
	if v, stable := a.auth.version(); !stable || v != v0+1 {
		t.Errorf("after the changing process died: version %d, stable %v; want %d, stable", v, stable, v0+1)
	}
}
