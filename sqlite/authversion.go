package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
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
// database (API keys, users, tenants' settings and secrets;
// bulwark.AuthVersioner),
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
	mappedFile
	begun, ended *atomic.Uint64
	mu           sync.Mutex   // one change of this process at a time, and repair
	lastRepair   atomic.Int64 // unix nanoseconds of the last attempt
}

// mappedFile is a version file beside the database, mapped into memory,
// as opened: its path, device and inode tell whether the path still names
// it. Its counters never go back.
type mappedFile struct {
	f        *os.File
	mem      []byte
	path     string
	dev, ino uint64
	size     int64
	// highest is the highest counter this process has read: it never goes
	// back, unless the file was rewritten (copied over, cut short).
	highest atomic.Uint64
	// lost is set once the file was found replaced, removed or rewound:
	// other processes may be changing another file, so nothing is cached
	// (never stale) and changes are refused until a restart.
	lost atomic.Bool
	// use counts the reads and changes of the mapping under way, with
	// closedBit set once close was called: none starts after it, and the
	// mapping and file are released when the last one under way ends (by
	// close itself when none is). Release happens once: unmapping the
	// address again would unmap whatever the kernel put there since, such
	// as another database's version file.
	use      atomic.Int64
	released sync.Once
}

// closedBit is set in mappedFile.use by close.
const closedBit = 1 << 62

// enter starts a read or a change of the mapping; false once the file
// is closed, when the caller must not touch the mapping or the file's
// descriptor. Each true is followed by one leave.
func (m *mappedFile) enter() bool {
	if m.use.Add(1)&closedBit != 0 {
		m.leave()
		return false
	}
	return true
}

// leave ends what enter started, releasing the file if it was the last
// use of a closed one.
func (m *mappedFile) leave() {
	if m.use.Add(-1) == closedBit {
		m.unmap()
	}
}

// errClosed refuses a change of a closed database's versions.
var errClosed = errors.New("the database is closed")

// seen reads the counter c of the file and returns it: lower than one
// read before, the file was rewound, and it is lost. The highest is read
// first, so that a counter another goroutine reads and records meanwhile
// is not taken for a rewind.
func (m *mappedFile) seen(counter *atomic.Uint64) uint64 {
	h := m.highest.Load()
	c := counter.Load()
	if c < h {
		m.lost.Store(true)
	}
	for c > h && !m.highest.CompareAndSwap(h, c) {
		h = m.highest.Load()
	}
	return c
}

// current reports whether the path still names the mapped file (one
// lstat): a file removed, moved away or replaced leaves this process
// counting on a file other processes no longer see. It sets lost if not.
func (m *mappedFile) current() bool {
	ok, lost := namesFile(m.path, m.dev, m.ino, m.size)
	if lost {
		m.lost.Store(true)
	}
	return ok
}

// refuseChange returns why a change may not be made: the file lost, or
// its lstat failing three times (asked again, since a passing failure
// should not refuse a change); nil when it may.
func (m *mappedFile) refuseChange() error {
	for range 3 {
		if m.lost.Load() {
			break
		}
		if m.current() {
			return nil
		}
		if !m.lost.Load() {
			time.Sleep(time.Millisecond)
		}
	}
	if !m.lost.Load() {
		return fmt.Errorf("cannot tell whether %s is still the file this process maps (lstat failed three times): the change is refused", m.path)
	}
	return fmt.Errorf("%s was removed, replaced or rewound while this process ran, so other processes would not see this change: restart every process using the database", m.path)
}

// close closes the file: it is unmapped and its descriptor closed now,
// or, when a read or a change is under way (a change lasts its
// transaction), as the last of them ends; Close does not wait for a
// change a caller never ended. Later calls do nothing.
func (m *mappedFile) close() error {
	for {
		u := m.use.Load()
		if u&closedBit != 0 {
			return nil
		}
		if m.use.CompareAndSwap(u, u|closedBit) {
			if u == 0 {
				return m.unmap()
			}
			return nil
		}
	}
}

// unmap unmaps and closes the file, once.
func (m *mappedFile) unmap() (err error) {
	m.released.Do(func() {
		err = syscall.Munmap(m.mem)
		if cerr := m.f.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

func openAuthVersion(dbPath string) (*authVersion, error) {
	f, p, err := openShared(dbPath, authFileSuffix)
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

// openShared opens (or makes) the file beside the database at dbPath
// whose name ends in suffix, for mapping into memory: not through a
// symlink (a link to /dev/zero would give each process its own private
// counters). The path returned is absolute, so that each read's lstat
// names the file whatever the process's working folder becomes.
func openShared(dbPath, suffix string) (*os.File, string, error) {
	p, err := filepath.Abs(dbPath + suffix)
	if err != nil {
		return nil, "", err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, "", err
	}
	return f, p, nil
}

func mapAuthVersion(f *os.File, p string) (*authVersion, error) {
	mem, dev, ino, err := mapShared(f, p, authFileSize, func(mem []byte) {
		// A new file, or one cut short: its counters start from the
		// clock, past any version a process that read the old contents
		// may have cached at (changes are far fewer than nanoseconds).
		begun, ended := (*atomic.Uint64)(unsafe.Pointer(&mem[0])), (*atomic.Uint64)(unsafe.Pointer(&mem[8]))
		v := max(uint64(time.Now().UnixNano()), begun.Load()+1)
		begun.Store(v)
		ended.Store(v)
	})
	if err != nil {
		return nil, err
	}
	// The mapping is page-aligned, so both words are 8-byte aligned.
	a := &authVersion{mappedFile: mappedFile{f: f, mem: mem, path: p, dev: dev, ino: ino, size: authFileSize},
		begun: (*atomic.Uint64)(unsafe.Pointer(&mem[0])),
		ended: (*atomic.Uint64)(unsafe.Pointer(&mem[8]))}
	return a, nil
}

// mapShared maps size bytes of f (at path p), which must be a regular
// file, shared with every process that maps it, and returns the mapping
// and the file's device and inode. A file shorter than size is made
// that long and fresh is called with its mapping first, while no other
// process can be mapping it.
func mapShared(f *os.File, p string, size int, fresh func(mem []byte)) ([]byte, uint64, uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, 0, 0, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, 0, 0, fmt.Errorf("%s is not a regular file", p)
	}
	// Making the file is done by one process at a time, and a process
	// never maps it short (a mapping past the end of a file faults).
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return nil, 0, 0, fmt.Errorf("lock %s: %w", p, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, 0, 0, err
	}
	short := st.Size < int64(size)
	if short {
		if err := f.Truncate(int64(size)); err != nil {
			return nil, 0, 0, err
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("map %s: %w", p, err)
	}
	if short {
		fresh(mem)
	}
	return mem, uint64(st.Dev), uint64(st.Ino), nil
}

// version returns the version and whether it is stable (no change under
// way). ended is read first: if begun then equals it, no change was under
// way when ended was read, and none began until begun was.
//
// The version is not stable either once the file is found no longer the
// one at its path, or rewound (see lost).
func (a *authVersion) version() (v uint64, stable bool) {
	if !a.enter() {
		return 0, false
	}
	defer a.leave()
	defer faulted(&a.lost, debug.SetPanicOnFault(true))
	e := a.ended.Load()
	b := a.seen(a.begun)
	if a.lost.Load() || !a.current() {
		return b, false
	}
	if b == e {
		return b, true
	}
	a.repair()
	return b, false
}

// faulted, deferred with debug.SetPanicOnFault(true) around the reads and
// writes of a mapped version file, restores old and turns a fault of the
// mapping (the file cut short under it, by an operator's truncate) into
// lost: the process keeps nothing and refuses changes, as when the file
// is replaced, instead of dying of SIGBUS. Every other process mapping
// the file finds it short (namesFile) or faults likewise.
func faulted(lost *atomic.Bool, old bool) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := r.(interface{ Addr() uintptr }); !ok {
			panic(r)
		}
		lost.Store(true)
	}
}

// namesFile reports whether path still names the file dev and ino, at
// least size bytes long (one lstat), and whether it surely does not
// (removed, moved away, replaced or cut short: a read of the mapping past
// its end would fault); neither when the lstat failed otherwise.
func namesFile(path string, dev, ino uint64, size int64) (ok, lost bool) {
	var st syscall.Stat_t
	switch err := syscall.Lstat(path, &st); {
	case err == syscall.ENOENT || err == nil && (uint64(st.Dev) != dev || uint64(st.Ino) != ino || st.Size < size):
		return false, true
	case err != nil: // cannot tell this time: not stable, not lost
		return false, false
	}
	return true, false
}

// change runs write, which changes authentication records and commits,
// as one change of the version.
func (a *authVersion) change(write func() error) error {
	if !a.enter() {
		return errClosed
	}
	defer a.leave()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := syscall.Flock(int(a.f.Fd()), syscall.LOCK_SH); err != nil {
		return fmt.Errorf("lock the authentication version: %w", err)
	}
	defer syscall.Flock(int(a.f.Fd()), syscall.LOCK_UN)
	if err := a.refuseChange(); err != nil {
		return err
	}
	a.add(a.begun)
	defer a.add(a.ended) // also when write fails: whatever it did is over
	return write()
}

// add adds one to the counter c of the mapping.
func (a *authVersion) add(c *atomic.Uint64) {
	defer faulted(&a.lost, debug.SetPanicOnFault(true))
	c.Add(1)
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

// authChange runs write, a change of API keys, users, settings or secrets that
// commits before it returns, as a change of the authentication version:
// every method that changes them (other than creating one, or recording
// a key's last use) goes through it.
func (db *DB) authChange(write func() error) error {
	return db.auth.change(write)
}

var _ bulwark.AuthVersioner = (*DB)(nil)
