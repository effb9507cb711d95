package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/bulwark-agents/bulwark"
)

// taskFileSuffix names the file, beside the database, that holds the
// versions of its tasks (see taskVersions).
const taskFileSuffix = "-tasks"

// taskStripes is how many versions the file holds; a task's is the one
// its id hashes to, so a change of one task also moves the version of
// the tasks that share its stripe (a cache miss, never a stale answer).
const taskStripes = 4096

// taskFileSize: a header of 64 bytes (changes, at 0), then each stripe's
// begun and ended counters.
const taskFileSize = 64 + 16*taskStripes

// taskVersions are the versions of the tasks of one database
// (bulwark.TaskVersioner), shared by every process that opens it as
// authVersion is: counters in a file beside the database, mapped into
// each process's memory, so that a server tells whether a task it has
// shown may have changed, whichever process changed it, without a query.
//
// A change of a task's row (its status, usage, answer, turns, a child
// made under it, or any of its children's rows, since a task's view
// lists them) adds one to the begun counter of the stripes of the task
// and of its parent before it commits, and one to their ended counters
// after. A stripe's version is begun, stable when ended equals it: a
// reader that saw version v stable before it read a task read it after
// every change up to v had committed, and any change that commits later
// moved begun past v first. A change that rolls back moves both too: the
// version never comes back to a value read before it.
//
// Writers hold a shared flock on the file over their changes (taken by
// this process's first change under way, dropped by its last): a process
// that died in the middle of one leaves its stripes unstable, until a
// process finds no one holding the lock and sets ended to begun
// everywhere (until then those tasks are not cached: slower, never stale).
type taskVersions struct {
	mappedFile
	changes *atomic.Uint64 // one more at each change of a stripe: never goes back

	mu         sync.Mutex // writers: the shared lock; repair
	writers    int        // changes of this process under way
	lastRepair atomic.Int64
}

func openTaskVersions(dbPath string) (*taskVersions, error) {
	f, p, err := openShared(dbPath, taskFileSuffix)
	if err != nil {
		return nil, err
	}
	mem, dev, ino, err := mapShared(f, p, taskFileSize, func(mem []byte) {
		// A new file, or one cut short: every counter starts from the
		// clock, past any version a process may have cached at.
		now := uint64(time.Now().UnixNano())
		t := taskVersions{mappedFile: mappedFile{mem: mem}}
		c := t.counter(0)
		c.Store(max(now, c.Load()+1))
		for i := range taskStripes {
			b, e := t.stripe(i)
			v := max(now, b.Load()+1)
			b.Store(v)
			e.Store(v)
		}
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	t := &taskVersions{mappedFile: mappedFile{f: f, mem: mem, path: p, dev: dev, ino: ino, size: taskFileSize}}
	t.changes = t.counter(0)
	return t, nil
}

// counter is the 8-byte word at off in the mapping (page-aligned, so
// every word is 8-byte aligned).
func (t *taskVersions) counter(off int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&t.mem[off]))
}

// stripe returns the begun and ended counters of stripe i.
func (t *taskVersions) stripe(i int) (begun, ended *atomic.Uint64) {
	off := 64 + 16*i
	return t.counter(off), t.counter(off + 8)
}

// stripeOf is the stripe of the task id: its 32-bit FNV-1a hash (as
// hash/fnv computes it, without an allocation per read).
func stripeOf(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % taskStripes)
}

// version returns the version of the task id and whether it is stable.
// As authVersion.version: ended is read before begun, and nothing is
// stable once the file is found no longer the one at its path, or
// rewound.
func (t *taskVersions) version(id string) (v uint64, stable bool) {
	if !t.enter() {
		return 0, false
	}
	defer t.leave()
	defer faulted(&t.lost, debug.SetPanicOnFault(true))
	t.seen(t.changes)
	begun, ended := t.stripe(stripeOf(id))
	e := ended.Load()
	b := begun.Load()
	if t.lost.Load() || !t.current() {
		return b, false
	}
	if b == e {
		return b, true
	}
	t.repair()
	return b, false
}

// taskChange is one change of tasks under way: the stripes it moved.
type taskChange struct {
	t       *taskVersions
	stripes []int
}

// begin starts a change: it takes the shared lock if no other change of
// this process holds it. The caller calls end once the change committed
// or rolled back; the file is not closed until it has.
func (t *taskVersions) begin() (*taskChange, error) {
	if !t.enter() {
		return nil, errClosed
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.writers == 0 {
		if err := syscall.Flock(int(t.f.Fd()), syscall.LOCK_SH); err != nil {
			t.leave()
			return nil, fmt.Errorf("lock the task versions: %w", err)
		}
	}
	t.writers++
	if err := t.refuseChange(); err != nil {
		t.release()
		t.leave()
		return nil, err
	}
	return &taskChange{t: t}, nil
}

// release ends a change of this process; t.mu is held.
func (t *taskVersions) release() {
	t.writers--
	if t.writers == 0 {
		syscall.Flock(int(t.f.Fd()), syscall.LOCK_UN)
	}
}

// touch moves the versions of the tasks ids (empty ones are skipped):
// called in the change's transaction, before it commits.
func (c *taskChange) touch(ids ...string) {
	defer faulted(&c.t.lost, debug.SetPanicOnFault(true))
	for _, id := range ids {
		if id == "" {
			continue
		}
		i := stripeOf(id)
		begun, _ := c.t.stripe(i)
		c.t.changes.Add(1)
		begun.Add(1)
		c.stripes = append(c.stripes, i)
	}
}

// touchAll moves the version of every task (a change made behind the
// store, whose tasks are not known).
func (c *taskChange) touchAll() {
	defer faulted(&c.t.lost, debug.SetPanicOnFault(true))
	for i := range taskStripes {
		begun, _ := c.t.stripe(i)
		c.t.changes.Add(1)
		begun.Add(1)
		c.stripes = append(c.stripes, i)
	}
}

// end ends the change, committed or not.
func (c *taskChange) end() {
	c.ended()
	c.t.mu.Lock()
	c.t.release()
	c.t.mu.Unlock()
	c.t.leave()
}

// ended moves the ended counters of the change's stripes.
func (c *taskChange) ended() {
	defer faulted(&c.t.lost, debug.SetPanicOnFault(true))
	for _, i := range c.stripes {
		_, ended := c.t.stripe(i)
		ended.Add(1)
	}
}

// repair ends the changes that no process is making any more (their
// process died between begun and ended), at most once a second.
func (t *taskVersions) repair() {
	now := time.Now().UnixNano()
	last := t.lastRepair.Load()
	if now-last < int64(time.Second) || !t.lastRepair.CompareAndSwap(last, now) {
		return
	}
	if !t.mu.TryLock() {
		return
	}
	defer t.mu.Unlock()
	if t.writers > 0 { // a change of this process is under way
		return
	}
	if syscall.Flock(int(t.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // another process is making a change
	}
	defer syscall.Flock(int(t.f.Fd()), syscall.LOCK_UN)
	for i := range taskStripes {
		begun, ended := t.stripe(i)
		ended.Store(begun.Load())
	}
}

// TaskVersion implements bulwark.TaskVersioner; it reads no table. The
// version is of the task's id, whatever the tenant: a task's id is unique
// in the database.
func (db *DB) TaskVersion(_ context.Context, tenant bulwark.TenantID, id string) (uint64, bool, error) {
	const op = "sqlite.TaskVersion"
	if err := tenant.Check(op); err != nil {
		return 0, false, err
	}
	if err := checkTaskID(op, id); err != nil {
		return 0, false, err
	}
	v, stable := db.tasks.version(id)
	return v, stable, nil
}

// taskWrite runs f in a write transaction as one change of the task
// versions: f calls c.touch with the id of every task whose row it
// changes and of that task's parent, before it returns. Every function
// of the package that changes the tasks table goes through it
// (TestTaskWritesMoveTheVersion).
func (db *DB) taskWrite(ctx context.Context, f func(tx *sql.Tx, c *taskChange) error) error {
	c, err := db.tasks.begin()
	if err != nil {
		return err
	}
	defer c.end()
	return db.write(ctx, func(tx *sql.Tx) error { return f(tx, c) })
}

var _ bulwark.TaskVersioner = (*DB)(nil)
