package sqlite

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/bulwark-agents/bulwark"
)

// authFileSuffix names the file, beside the database, that holds the
// version of its authentication records (see authVersion).
const authFileSuffix = "-auth"

// authFileSize is the size of that file: two 8-byte counters and room.
const authFileSize = 64

// authVersion is the version of the authentication records of one
// database (API keys, users, tenants' settings; bulwark.AuthVersioner),
// shared by every process that opens it: two counters in a small file
// beside the database, mapped into each process's memory, so that reading
// the version costs two atomic loads and no query, and a change made by
// `bulwark keys revoke` in another process is seen by a running server at
// its next request.
//
// A change of those records runs in change: it adds one to begun, writes
// and commits, then adds one to ended. The version is begun, stable when
// ended equals it. A reader that saw version v stable before it read the
// records read them after every change up to v had committed; a change
// that starts later moves begun past v. A writer holds a shared flock on
// the file over its change: a process that died in the middle of one
// leaves begun > ended, and repair sets ended = begun once no process
// holds the lock (until then nothing is cached: slower, never stale).
type authVersion struct {
	f            *os.File
	mem          []byte
	begun, ended *atomic.Uint64
	mu           sync.Mutex   // one change of this process at a time, and repair
	lastRepair   atomic.Int64 // unix nanoseconds of the last attempt
}

func openAuthVersion(dbPath string) (*authVersion, error) {
	p := dbPath + authFileSuffix
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < authFileSize {
		err = f.Truncate(authFileSize) // zeros: a new file, or one a crash cut short before it held anything
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, authFileSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("map %s: %w", p, err)
	}
	// The mapping is page-aligned, so both words are 8-byte aligned.
	return &authVersion{f: f, mem: mem,
		begun: (*atomic.Uint64)(unsafe.Pointer(&mem[0])),
		ended: (*atomic.Uint64)(unsafe.Pointer(&mem[8]))}, nil
}

func (a *authVersion) close() error {
	err := syscall.Munmap(a.mem)
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// version returns the version and whether it is stable (no change under
// way). ended is read first: if begun then equals it, no change was under
// way when ended was read, and none began until begun was.
func (a *authVersion) version() (uint64, bool) {
	e := a.ended.Load()
	b := a.begun.Load()
	if b == e {
		return b, true
	}
	a.repair()
	return b, false
}

// change runs write, which changes authentication records and commits,
// as one change of the version.
func (a *authVersion) change(write func() error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := syscall.Flock(int(a.f.Fd()), syscall.LOCK_SH); err != nil {
		return fmt.Errorf("lock the authentication version: %w", err)
	}
	defer syscall.Flock(int(a.f.Fd()), syscall.LOCK_UN)
	a.begun.Add(1)
	defer a.ended.Add(1) // also when write fails: whatever it did is over
	return write()
}

// repair ends a change that no process is making any more (its process
// died between begun and ended), at most once a second.
func (a *authVersion) repair() {
	now := time.Now().UnixNano()
	last := a.lastRepair.Load()
	if now-last < int64(time.Second) || !a.lastRepair.CompareAndSwap(last, now) {
		return
	}
	if !a.mu.TryLock() { // a change of this process is under way
		return
	}
	defer a.mu.Unlock()
	if syscall.Flock(int(a.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // another process is making a change
	}
	defer syscall.Flock(int(a.f.Fd()), syscall.LOCK_UN)
	a.ended.Store(a.begun.Load())
}

// AuthVersion implements bulwark.AuthVersioner; it reads no table.
func (db *DB) AuthVersion(context.Context) (uint64, bool, error) {
	v, stable := db.auth.version()
	return v, stable, nil
}

// authChange runs write, a change of API keys, users or settings that
// commits before it returns, as a change of the authentication version:
// every method that changes them (other than creating one, or recording
// a key's last use) goes through it.
func (db *DB) authChange(write func() error) error {
	return db.auth.change(write)
}

var _ bulwark.AuthVersioner = (*DB)(nil)
