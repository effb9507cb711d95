package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

	// The file as opened, to tell whether the path still names it.
	path     string
	dev, ino uint64
	// highest is the highest begun this process has read: begun never
	// goes back, unless the file was rewritten (copied over, cut short).
	highest atomic.Uint64
	// lost is set once the file was found replaced, removed or rewound:
	// other processes may be changing another file, so nothing is cached
	// (never stale) and changes are refused until a restart.
	lost atomic.Bool
}

func openAuthVersion(dbPath string) (*authVersion, error) {
	// Absolute, so that each read's lstat names the file whatever the
	// process's working folder becomes.
	p, err := filepath.Abs(dbPath + authFileSuffix)
	if err != nil {
		return nil, err
	}
	// Not through a symlink: the file must be the one every process maps
	// (a link to /dev/zero would give each its own private counters).
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	a, err := mapAuthVersion(f, p)
	if err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

func mapAuthVersion(f *os.File, p string) (*authVersion, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	// Making the file is done by one process at a time, and a process
	// never maps it short (a mapping past the end of a file faults).
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	short := st.Size < authFileSize
	if short {
		if err := f.Truncate(authFileSize); err != nil {
			return nil, err
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, authFileSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", p, err)
	}
	// The mapping is page-aligned, so both words are 8-byte aligned.
	a := &authVersion{f: f, mem: mem, path: p, dev: uint64(st.Dev), ino: uint64(st.Ino),
		begun: (*atomic.Uint64)(unsafe.Pointer(&mem[0])),
		ended: (*atomic.Uint64)(unsafe.Pointer(&mem[8]))}
	if short {
		// A new file, or one cut short: its counters start from the
		// clock, past any version a process that read the old contents
		// may have cached at (changes are far fewer than nanoseconds).
		v := max(uint64(time.Now().UnixNano()), a.begun.Load()+1)
		a.begun.Store(v)
		a.ended.Store(v)
	}
	return a, nil
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
//
// The version is not stable either once the file is found no longer the
// one at its path, or rewound (see lost).
func (a *authVersion) version() (uint64, bool) {
	h := a.highest.Load() // before begun: a begun read after it is not lower
	e := a.ended.Load()
	b := a.begun.Load()
	if b < h {
		a.lost.Store(true)
	}
	for b > h && !a.highest.CompareAndSwap(h, b) {
		h = a.highest.Load()
	}
	if a.lost.Load() || !a.current() {
		return b, false
	}
	if b == e {
		return b, true
	}
	a.repair()
	return b, false
}

// current reports whether the path still names the mapped file (one
// lstat): a file removed, moved away or replaced leaves this process
// counting on a file other processes no longer see. It sets lost if not.
func (a *authVersion) current() bool {
	var st syscall.Stat_t
	switch err := syscall.Lstat(a.path, &st); {
	case err == syscall.ENOENT || err == nil && (uint64(st.Dev) != a.dev || uint64(st.Ino) != a.ino):
		a.lost.Store(true)
		return false
	case err != nil: // cannot tell this time: not stable, not lost
		return false
	}
	return true
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
	if a.lost.Load() || !a.current() {
		return fmt.Errorf("%s was removed, replaced or rewound while this process ran, so other processes would not see this change: restart every process using the database", a.path)
	}
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
