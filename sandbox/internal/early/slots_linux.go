package early

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
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
//
// A lease ending with its process does not end that process's sandboxes
// at once: their inits die by their parent death signal, and an init's
// end waits for every process of its pid namespace, which may take a
// while (a command with much memory to free, one stuck in the kernel).
// So the holder records in the block's file, for each slot it hands out,
// that the slot is taken and then the pid of its init (slotMarks), and
// clears it once the init has ended. Whoever leases the block next skips
// every slot whose init still runs (or, where no init was recorded, whose
// uids a process still has): no sandbox is given the uids of a process of
// an ended host's sandbox.
const (
	UIDBase       = 0x60000000
	Slots         = 1 << 20
	SlotsPerBlock = 256
	Blocks        = Slots / SlotsPerBlock
)

// uidLeaseDir is the folder of the lease files: /run (gone at reboot, when
// no sandbox survives either), or /var/lib where /run is missing.
func uidLeaseDir() string {
	if st, err := os.Stat("/run"); err == nil && st.IsDir() {
		return "/run/bulwark/sandbox-uids"
	}
	return "/var/lib/bulwark/sandbox-uids"
}

// Host hands out this process's sandbox uids, in hostLeaseDir.
var Host Allocator

// hostLeaseDir is uidLeaseDir, looked up on first use rather than by the
// package's init, which every command (`bulwark version` too) runs.
var hostLeaseDir = lazy.Value[string]{New: uidLeaseDir}

// Allocator hands out slots (a slot s is the host uids UIDBase+2s and
// UIDBase+2s+1) from the blocks it leased. Safe for concurrent use.
type Allocator struct {
	Dir string // "" for the host's (hostLeaseDir); see Folder
	// nBlocks and perBlock size the range (0: Blocks, SlotsPerBlock);
	// a host that is not root hands out its subordinate ids (subuid_linux.go).
	NBlocks, PerBlock uint32

	// SlotUIDs are the host uids of a slot (nil: those of a root host,
	// UIDBase+2s and the one after).
	SlotUIDs func(slot uint32) []uint32

	mu     sync.Mutex
	leases []*os.File // open and locked: one per leased block
	blocks []uint32
	used   map[uint32]bool
	// skipped are the slots of leased blocks that an ended holder's
	// sandbox may still have processes in, by the pid recorded (-1:
	// none was, and a process of the slot's uids was found): in used
	// too, and looked at again when no other slot is free.
	skipped map[uint32]int32
	// ever, when not nil, records every slot handed out: the tests look
	// for survivors among their own sandboxes' uids only.
	ever map[uint32]bool
}

// folder is the folder of the lease files.
func (a *Allocator) Folder() string {
	if a.Dir == "" {
		return hostLeaseDir.Get()
	}
	return a.Dir
}

// alloc returns a slot no other sandbox on the host uses.
func (a *Allocator) Alloc() (uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used == nil {
		a.used = map[uint32]bool{}
	}
	for range 2 {
		for _, b := range a.blocks {
			if s, ok := a.freeIn(b); ok {
				return a.take(s)
			}
		}
		if len(a.skipped) == 0 || !a.recheck() {
			break
		}
	}
	for {
		b, err := a.lease()
		if err != nil {
			if len(a.skipped) > 0 {
				err = fmt.Errorf("%w (%d slots skipped: processes of a sandbox whose host ended still run as their uids)", err, len(a.skipped))
			}
			return 0, err
		}
		if s, ok := a.freeIn(b); ok {
			return a.take(s)
		}
	}
}

func (a *Allocator) freeIn(block uint32) (uint32, bool) {
	n := a.blockSize()
	for s := block * n; s < (block+1)*n; s++ {
		if !a.used[s] {
			return s, true
		}
	}
	return 0, false
}

// take hands out slot s, recorded as taken in its block's file first.
func (a *Allocator) take(s uint32) (uint32, error) {
	if err := a.mark(s, markTaken); err != nil {
		return 0, fmt.Errorf("record uid slot %d in its lease: %w", s, err)
	}
	a.used[s] = true
	if a.ever != nil {
		a.ever[s] = true
	}
	return s, nil
}

// free gives a slot back once its sandbox has no process left.
func (a *Allocator) Free(s uint32) {
	a.mu.Lock()
	delete(a.used, s)
	a.mark(s, 0) // not cleared: the next holder looks at the pid
	a.mu.Unlock()
}

// initStarted records pid as the init of slot s, which this process
// holds: from then on an end of this process before the slot's free
// leaves the next holder of the block the pid to look at.
func (a *Allocator) InitStarted(s uint32, pid int) {
	a.mu.Lock()
	if a.used[s] {
		a.mark(s, int32(pid))
	}
	a.mu.Unlock()
}

// A slot's mark in its block's file (4 bytes, little-endian, at 4 times
// its place in the block): 0 free, markTaken taken with no init started
// yet, else the pid of its init.
const markTaken = -1

// mark writes slot s's mark in its block's file. a.mu is held.
func (a *Allocator) mark(s uint32, v int32) error {
	n := a.blockSize()
	i := slices.Index(a.blocks, s/n)
	if i < 0 {
		return fmt.Errorf("block %d not leased", s/n)
	}
	var b [4]byte
	putMark(b[:], v)
	_, err := unix.Pwrite(int(a.leases[i].Fd()), b[:], int64(4*(s%n)))
	return err
}

func putMark(b []byte, v int32) { binary.LittleEndian.PutUint32(b, uint32(v)) }

// readMarks reads the marks of the block just leased in f, whose last
// holder has ended, and skips the slots that may still have processes:
// one whose recorded init still runs (an init ends after every process
// of its sandbox), or, where none was recorded, whose uids a process has.
// The other marks are cleared. a.mu is held.
func (a *Allocator) readMarks(f *os.File, block uint32) error {
	n := a.blockSize()
	buf := make([]byte, 4*n)
	got, err := unix.Pread(int(f.Fd()), buf, 0)
	if err != nil {
		return err
	}
	var unknown []uint32
	dirty := false
	for i := uint32(0); 4*i+4 <= uint32(got); i++ {
		v := int32(binary.LittleEndian.Uint32(buf[4*i:]))
		switch s := block*n + i; {
		case v == 0:
			continue
		case v == markTaken:
			unknown = append(unknown, s)
		case pidExists(v):
			a.skip(s, v)
			continue
		}
		putMark(buf[4*i:], 0)
		dirty = true
	}
	if len(unknown) > 0 {
		found, err := a.uidHolders(unknown)
		for _, s := range unknown {
			if _, ok := found[s]; ok || err != nil {
				a.skip(s, markTaken)
				putMark(buf[4*(s-block*n):], markTaken)
			}
		}
	}
	if dirty {
		if _, err := unix.Pwrite(int(f.Fd()), buf[:got], 0); err != nil {
			return err
		}
	}
	return nil
}

// skip keeps slot s from being handed out (see skipped).
func (a *Allocator) skip(s uint32, pid int32) {
	if a.skipped == nil {
		a.skipped = map[uint32]int32{}
	}
	a.skipped[s] = pid
	a.used[s] = true
}

// recheck looks at the skipped slots again and frees those with no
// process left; it reports whether it freed one. a.mu is held.
func (a *Allocator) recheck() bool {
	var unknown []uint32
	freed := false
	for s, pid := range a.skipped {
		if pid == markTaken {
			unknown = append(unknown, s)
		} else if !pidExists(pid) {
			delete(a.skipped, s)
			delete(a.used, s)
			freed = true
		}
	}
	if len(unknown) > 0 {
		if found, err := a.uidHolders(unknown); err == nil {
			for _, s := range unknown {
				if _, ok := found[s]; !ok {
					delete(a.skipped, s)
					delete(a.used, s)
					freed = true
				}
			}
		}
	}
	return freed
}

// pidExists says whether a process (a zombie too) has pid.
func pidExists(pid int32) bool {
	var st unix.Stat_t
	return pid > 0 && unix.Stat("/proc/"+strconv.Itoa(int(pid)), &st) == nil
}

// uidHolders returns which of slots have a process running as one of
// their host uids (its effective uid, as /proc/PID's owner gives it,
// whatever the process's dumpable state), with one such pid each.
func (a *Allocator) uidHolders(slots []uint32) (map[uint32]int, error) {
	want := map[uint32]uint32{}
	for _, s := range slots {
		for _, u := range a.uidsOf(s) {
			want[u] = s
		}
	}
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	found := map[uint32]int{}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+name, &st) != nil {
			continue
		}
		if s, ok := want[st.Uid]; ok {
			found[s] = pid
		}
	}
	return found, nil
}

// uidsOf returns the host uids of slot s.
func (a *Allocator) uidsOf(s uint32) []uint32 {
	if a.SlotUIDs != nil {
		return a.SlotUIDs(s)
	}
	return []uint32{UIDBase + 2*s, UIDBase + 2*s + 1}
}

// lease locks the first block no process holds. a.mu is held.
func (a *Allocator) lease() (uint32, error) {
	dir := a.Folder()
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
		name := join(dir, fmt.Sprintf("block-%04d", b))
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
		if err := a.readMarks(f, b); err != nil {
			f.Close()
			return 0, fmt.Errorf("read the marks of %s: %w", name, err)
		}
		a.leases = append(a.leases, f)
		a.blocks = append(a.blocks, b)
		return b, nil
	}
	return 0, fmt.Errorf("all %d uid blocks in %s are leased", a.numBlocks(), dir)
}

func (a *Allocator) numBlocks() uint32 {
	if a.NBlocks > 0 {
		return a.NBlocks
	}
	return Blocks
}

func (a *Allocator) blockSize() uint32 {
	if a.PerBlock > 0 {
		return a.PerBlock
	}
	return SlotsPerBlock
}

// close gives every lease back (tests; a process's leases otherwise end
// with it).
func (a *Allocator) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range a.leases {
		f.Close()
	}
	a.leases, a.blocks, a.used, a.skipped = nil, nil, nil, nil
}

// Used says whether slot s is handed out (or skipped).
func (a *Allocator) Used(s uint32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.used[s]
}

// UsedSlots returns the slots handed out (or skipped), in no order.
func (a *Allocator) UsedSlots() []uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []uint32
	for s := range a.used {
		out = append(out, s)
	}
	return out
}

// SetUsed marks slot s handed out without recording it in its block's
// file: tests that stand for another sandbox holding it.
func (a *Allocator) SetUsed(s uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used == nil {
		a.used = map[uint32]bool{}
	}
	a.used[s] = true
}

// Leased says whether a holds the lease of block b.
func (a *Allocator) Leased(b uint32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Contains(a.blocks, b)
}

// RecordEver starts recording every slot handed out from now on (Ever).
func (a *Allocator) RecordEver() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ever = map[uint32]bool{}
}

// Ever says whether slot s was handed out since RecordEver.
func (a *Allocator) Ever(s uint32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ever[s]
}

// Held lists the slots handed out and not freed, sorted: those used less
// those skipped as their block was leased (an ended holder's, which a
// process finds in its block on a host where other processes run
// sandboxes, and never hands out). What a test that ends its sandboxes
// expects to be none.
func (a *Allocator) Held() []uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held()
}

// held is Held with a.mu held.
func (a *Allocator) held() []uint32 {
	var out []uint32
	for s := range a.used {
		if _, skipped := a.skipped[s]; !skipped {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// TakeAllBut marks every slot of a's blocks but keep as taken, and none
// as skipped: a's next Alloc hands out keep, once it may, or leases a new
// block (tests). A slot that an earlier holder left skipped, its init a
// zombie until pid 1 reaps it, may have ended meanwhile, and would
// otherwise be handed out first.
func (a *Allocator) TakeAllBut(keep uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.blockSize()
	for _, b := range a.blocks {
		for s := b * n; s < (b+1)*n; s++ {
			if s != keep {
				a.used[s] = true
				delete(a.skipped, s)
			}
		}
	}
}
