package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Host uids: each sandbox gets two unprivileged host uids from a reserved
// range, one for its init (root inside) and one for the command (uid 1000
// inside). A per-sandbox uid makes RLIMIT_NPROC a per-sandbox cap and keeps
// sandboxes from touching each other's processes, so no two sandboxes on
// the host may share one, even when two Bulwark processes run side by
// side (a server and a `bulwark run`, two servers).
//
// The range is cut into blocks of slots. A process leases a block by
// holding an exclusive flock on the block's file in a root-only folder
// (uidLeaseDir), and hands out the block's slots to its own sandboxes; it
// leases another block when its blocks are full. The kernel drops the lock
// when the process ends, however it ends, so a crash leaves no stale lease.
const (
	uidBase       = 0x60000000
	uidSlots      = 1 << 20
	slotsPerBlock = 256
	uidBlocks     = uidSlots / slotsPerBlock
)

// uidLeaseDir is the folder of the lease files: /run (gone at reboot, when
// no sandbox survives either), or /var/lib where /run is missing.
func uidLeaseDir() string {
	if st, err := os.Stat("/run"); err == nil && st.IsDir() {
		return "/run/bulwark/sandbox-uids"
	}
	return "/var/lib/bulwark/sandbox-uids"
}

// uids hands out this process's sandbox uids, in hostLeaseDir.
var uids = &uidAllocator{}

// hostLeaseDir is uidLeaseDir, looked up on first use rather than by the
// package's init, which every command (`bulwark version` too) runs.
var hostLeaseDir = lazy.Value[string]{New: uidLeaseDir}

// uidAllocator hands out slots (a slot s is the host uids uidBase+2s and
// uidBase+2s+1) from the blocks it leased. Safe for concurrent use.
type uidAllocator struct {
	dir string // "" for the host's (hostLeaseDir); see folder
	// nBlocks and perBlock size the range (0: uidBlocks, slotsPerBlock);
	// a host that is not root hands out its subordinate ids (subuid_linux.go).
	nBlocks, perBlock uint32

	mu     sync.Mutex
	leases []*os.File // open and locked: one per leased block
	blocks []uint32
	used   map[uint32]bool
	// ever, when not nil, records every slot handed out: the tests look
	// for survivors among their own sandboxes' uids only.
	ever map[uint32]bool
}

// folder is the folder of the lease files.
func (a *uidAllocator) folder() string {
	if a.dir == "" {
		return hostLeaseDir.Get()
	}
	return a.dir
}

// alloc returns a slot no other sandbox on the host uses.
func (a *uidAllocator) alloc() (uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used == nil {
		a.used = map[uint32]bool{}
	}
	for _, b := range a.blocks {
		if s, ok := a.freeIn(b); ok {
			return a.take(s), nil
		}
	}
	b, err := a.lease()
	if err != nil {
		return 0, err
	}
	s, _ := a.freeIn(b)
	return a.take(s), nil
}

func (a *uidAllocator) freeIn(block uint32) (uint32, bool) {
	n := a.blockSize()
	for s := block * n; s < (block+1)*n; s++ {
		if !a.used[s] {
			return s, true
		}
	}
	return 0, false
}

func (a *uidAllocator) take(s uint32) uint32 {
	a.used[s] = true
	if a.ever != nil {
		a.ever[s] = true
	}
	return s
}

// free gives a slot back once its sandbox has no process left.
func (a *uidAllocator) free(s uint32) {
	a.mu.Lock()
	delete(a.used, s)
	a.mu.Unlock()
}

// lease locks the first block no process holds. a.mu is held.
func (a *uidAllocator) lease() (uint32, error) {
	dir := a.folder()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	// Whoever can write the folder could hold every block, or swap a file
	// under a lock: it must be this user's alone.
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return 0, fmt.Errorf("uid lease folder %s is not a folder that only this user can write", dir)
	}
	for b := uint32(0); b < a.numBlocks(); b++ {
		if slices.Contains(a.blocks, b) {
			continue
		}
		name := filepath.Join(dir, fmt.Sprintf("block-%04d", b))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return 0, err
		}
		// The lock belongs to this open file: O_CLOEXEC (os's default)
		// keeps children from holding it after this process is gone.
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			continue
		}
		if err != nil {
			f.Close()
			return 0, fmt.Errorf("lock %s: %w", name, err)
		}
		a.leases = append(a.leases, f)
		a.blocks = append(a.blocks, b)
		return b, nil
	}
	return 0, fmt.Errorf("all %d uid blocks in %s are leased", a.numBlocks(), dir)
}

func (a *uidAllocator) numBlocks() uint32 {
	if a.nBlocks > 0 {
		return a.nBlocks
	}
	return uidBlocks
}

func (a *uidAllocator) blockSize() uint32 {
	if a.perBlock > 0 {
		return a.perBlock
	}
	return slotsPerBlock
}

// close gives every lease back (tests; a process's leases otherwise end
// with it).
func (a *uidAllocator) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range a.leases {
		f.Close()
	}
	a.leases, a.blocks, a.used = nil, nil, nil
}
