package sqlite

import (
	"context"
	"sync"
	"testing"
)

// TestCloseTwiceLeavesOthersMapped: closing a database twice (a test's
// explicit Close and its cleanup, a server's deferred Close after an
// error path closed it) must not unmap another database's version files.
// The kernel gives a new mapping the address a closed one had, and the
// second Close of the first would unmap the new one: the other database
// then reads its versions as lost (0, not stable) and its changes stop
// moving them, unseen by other processes.
func TestCloseTwiceLeavesOthersMapped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for i := range 5 {
		a, err := newFolder(t).tryOpen()
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		f := newFolder(t)
		b, c := f.open(t), f.open(t) // b maps where a did
		tn := mustTenant(t, b, "acme")
		a.Close()
		v0, stable, _ := c.AuthVersion(ctx)
		if !stable {
			t.Fatalf("try %d: after another database's second Close, the version is not stable", i)
		}
		changeSettings(t, b, tn)
		if v, stable, _ := c.AuthVersion(ctx); v == v0 || !stable {
			t.Fatalf("try %d: after another database's second Close, a change through b did not move the version c sees (%d, was %d, stable %v)", i, v, v0, stable)
		}
		if v, stable, _ := c.TaskVersion(ctx, tn, "t-1"); v == 0 || !stable {
			t.Fatalf("try %d: after another database's second Close, the task version is %d, stable %v", i, v, stable)
		}
	}
}

// TestUseAfterClose: a request that reads the versions of a closed
// database (a server shutting down) gets nothing cacheable and a refused
// change, not a read of memory that is no longer the file's.
func TestUseAfterClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	a := f.open(t)
	tn := mustTenant(t, a, "acme")
	a.Close()
	if _, stable, _ := a.AuthVersion(ctx); stable {
		t.Error("the auth version of a closed database is stable")
	}
	if _, stable, _ := a.TaskVersion(ctx, tn, "t-1"); stable {
		t.Error("a task version of a closed database is stable")
	}
	if err := a.auth.change(func() error { return nil }); err == nil {
		t.Error("a change of the auth version of a closed database was accepted")
	}
	if _, err := a.tasks.begin(); err == nil {
		t.Error("a task change of a closed database was accepted")
	}
}

// TestCloseWhileInUse: Close, racing reads and changes of the versions,
// lets no new one touch the mapping, and the last under way releases the
// files (run
// with -race; a read of the unmapped file would be taken as lost, which
// the test sees as a version of 0).
func TestCloseWhileInUse(t *testing.T) {
	t.Parallel()
	for range 5 {
		f := newFolder(t)
		a := f.open(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 200 {
					if v, stable := a.auth.version(); stable && v == 0 {
						t.Error("a stable version 0")
						return
					}
					if c, err := a.tasks.begin(); err == nil {
						c.touch("t-1")
						c.end()
					}
				}
			}()
		}
		a.Close()
		wg.Wait()
		if a.auth.lost.Load() || a.tasks.lost.Load() {
			t.Fatal("Close racing reads and changes made a read of the unmapped file (lost set)")
		}
		if a.auth.f.Fd() != ^uintptr(0) || a.tasks.f.Fd() != ^uintptr(0) {
			t.Fatal("once the last read or change under Close ended, the version files are still open")
		}
	}
}
