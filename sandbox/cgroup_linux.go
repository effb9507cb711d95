package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The sandbox limits memory, processes and CPU through cgroups, controller
// by controller: with cgroup v2 where the unified hierarchy offers the
// controller, else with the v1 hierarchy mounted for it (hybrid hosts).
// Each sandbox gets its own group beneath the host process's own cgroup (so
// the host's limits still hold): its uid slot's group, kept from one
// sandbox of the slot to the next and proven empty and reset before each
// (newCgroup).

// controllers the sandbox needs.
var controllers = []string{"memory", "pids", "cpu"}

const cgroupRoot = "/sys/fs/cgroup"

// findCgroups locates each controller for the current process.
func findCgroups() ([]CgroupController, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	unified := cgroupRoot
	if isCgroup2(cgroupRoot + "/unified") {
		unified = cgroupRoot + "/unified"
	} else if !isCgroup2(cgroupRoot) {
		unified = ""
	}
	var v2 map[string]bool
	var v2dir string
	if unified != "" {
		v2dir = filepath.Join(unified, own[""])
		v2 = map[string]bool{}
		if b, err := readKernFile(filepath.Join(v2dir, "cgroup.controllers")); err == nil {
			for _, c := range strings.Fields(string(b)) {
				v2[c] = true
			}
		}
	}
	var out []CgroupController
	for _, c := range controllers {
		cc := CgroupController{Name: c}
		if v2[c] {
			cc.Version, cc.Parent = 2, v2dir
		} else if p, ok := own[c]; ok {
			if dir := v1Mount(c); dir != "" {
				cc.Version, cc.Parent = 1, filepath.Join(dir, p)
			}
		}
		out = append(out, cc)
	}
	return out, nil
}

// ownCgroups reads /proc/self/cgroup: controller name ("" for v2) to path.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			m[c] = parts[2]
		}
	}
	return m, s.Err()
}

func isCgroup2(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "cgroup.controllers"))
	return err == nil
}

// v1Mount is where the v1 hierarchy of controller c is mounted, or "".
func v1Mount(c string) string {
	for _, d := range []string{cgroupRoot + "/" + c, cgroupRoot + "/cpu,cpuacct", cgroupRoot + "/cpuacct,cpu"} {
		if c != "cpu" && d != cgroupRoot+"/"+c {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "tasks")); err == nil {
			return d
		}
	}
	return ""
}

// cgroup is one sandbox's set of groups.
type cgroup struct {
	dirs map[string]string // controller -> folder
	v2   map[string]bool
	base map[string]int64 // counters when the sandbox got the groups
	keep bool             // a slot's groups: kept for its next sandbox
	// locks hold an exclusive flock on each of a slot's groups while the
	// sandbox has them (see lockSlotGroup).
	locks []int
}

var (
	cgroupSeq   atomic.Int64
	reapedStale sync.Map // parent folder -> true once swept
)

// reapStale removes the empty groups that a bulwark process which is gone
// (killed, crashed) left in parent. Group names carry the creator's pid.
// Only a process that makes such groups itself sweeps them (makeCgroup):
// a slot's groups, which every sandbox of a root host has unless the
// slot's cannot be reused, are named by the slot and kept, and leave none
// behind; the sweep, a listing of each controller's folder, was two
// fifths of a cold CLI's group set-up (BENCHMARKS.md, "Issue 17, the cold CLI
// (session 34, cli)").
func reapStale(parent string) {
	if _, done := reapedStale.LoadOrStore(parent, true); done {
		return
	}
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "bulwark-sandbox-")
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // its creator still runs
		}
		os.Remove(filepath.Join(parent, e.Name())) // fails, harmlessly, if not empty
	}
}

// slotCgroup is the name of the groups of uid slot s. A slot belongs to one
// sandbox at a time on the whole host (uids), so its groups do too: they
// are kept when the sandbox ends and reused by the slot's next sandbox,
// which costs a few writes instead of a mkdir and an rmdir that waits for
// the kernel to free the group.
func slotCgroup(slot uint32) string { return fmt.Sprintf("bulwark-slot-%d", slot) }

// newCgroup returns the groups of a sandbox in uid slot slot, with its
// limits written. Groups the slot already has are reused once they are
// proven empty and reset (see reset); when they cannot be, the sandbox gets
// fresh groups of its own, removed when it ends.
//
// slot < 0 says the sandbox has no slot of its own (a host that is not
// root and has no subordinate ids gives every sandbox slot 0): its groups
// are always fresh, since reusing a shared name would put concurrent
// sandboxes in one group and the reset would kill the other's processes.
func newCgroup(ctrls []CgroupController, slot int64, memory int64, pids int, cpu float64) (*cgroup, error) {
	if slot >= 0 {
		cg, err := makeCgroup(ctrls, slotCgroup(uint32(slot)), true, memory, pids, cpu)
		if err == nil || !errors.Is(err, errNotReusable) {
			return cg, err
		}
	}
	name := fmt.Sprintf("bulwark-sandbox-%d-%d", os.Getpid(), cgroupSeq.Add(1))
	return makeCgroup(ctrls, name, false, memory, pids, cpu)
}

// errNotReusable says a slot's existing group could not be emptied or
// reset, or another sandbox has it.
var errNotReusable = errors.New("cgroup not reusable")

// lockSlotGroup takes an exclusive flock on the group at dir, held until
// the sandbox gives the group up (unlock). The uid lease should keep a
// slot to one sandbox on the host, but two processes that lease in
// different folders (a user's processes with different XDG_RUNTIME_DIR or
// TMPDIR, one with PrivateTmp) can both hold a slot: the lock on the group
// itself keeps the second's reset from killing the first's processes (it
// gets fresh groups instead). The kernel drops the lock with the process.
func lockSlotGroup(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("cgroup %s in use: %w", dir, err)
	}
	return fd, nil
}

// unlock gives up the locks on a slot's groups.
func (cg *cgroup) unlock() {
	closeAll(cg.locks)
	cg.locks = nil
}

func makeCgroup(ctrls []CgroupController, name string, keep bool, memory int64, pids int, cpu float64) (*cgroup, error) {
	cg := &cgroup{dirs: map[string]string{}, v2: map[string]bool{}, base: map[string]int64{}}
	fail := func(err error) (*cgroup, error) {
		if !keep {
			cg.remove()
		}
		cg.unlock()
		return nil, err
	}
	reused := false
	for _, c := range ctrls {
		if c.Version == 0 {
			return fail(fmt.Errorf("cgroup controller %s is not available", c.Name))
		}
		if c.Version == 2 {
			if err := enableV2(c.Parent, c.Name); err != nil {
				return fail(err)
			}
		}
		if !keep {
			reapStale(c.Parent)
		}
		dir := filepath.Join(c.Parent, name)
		if err := os.Mkdir(dir, 0o755); errors.Is(err, os.ErrExist) {
			reused = true
		} else if err != nil {
			return fail(fmt.Errorf("create cgroup: %w", err))
		}
		if keep && !slices.Contains(slices.Collect(maps.Values(cg.dirs)), dir) {
			// One lock per group: in v2 every controller is in the one.
			fd, err := lockSlotGroup(dir)
			if err != nil {
				return fail(fmt.Errorf("%w: %v", errNotReusable, err))
			}
			cg.locks = append(cg.locks, fd)
		}
		cg.dirs[c.Name] = dir
		cg.v2[c.Name] = c.Version == 2
	}
	if reused {
		if err := cg.reset(); err != nil {
			return fail(fmt.Errorf("%w: %v", errNotReusable, err))
		}
	}
	cg.keep = keep
	period := 100000
	quota := int(cpu * float64(period))
	var writes [][2]string
	if cg.v2["memory"] {
		writes = append(writes, [2]string{"memory/memory.max", itoa(memory)}, [2]string{"memory/memory.swap.max", "0"})
	} else {
		// memory+swap may never be below memory: lift it first, for a
		// reused group whose last limit was lower.
		writes = append(writes, [2]string{"memory/memory.memsw.limit_in_bytes?", "-1"}, [2]string{"memory/memory.limit_in_bytes", itoa(memory)}, [2]string{"memory/memory.memsw.limit_in_bytes?", itoa(memory)}, [2]string{"memory/memory.swappiness?", "0"})
	}
	writes = append(writes, [2]string{"pids/pids.max", strconv.Itoa(pids)})
	if cg.v2["cpu"] {
		writes = append(writes, [2]string{"cpu/cpu.max", fmt.Sprintf("%d %d", quota, period)})
	} else {
		writes = append(writes, [2]string{"cpu/cpu.cfs_period_us", strconv.Itoa(period)}, [2]string{"cpu/cpu.cfs_quota_us", strconv.Itoa(quota)})
	}
	if err := cg.write(writes); err != nil {
		return fail(fmt.Errorf("cgroup limit %w", err))
	}
	// Counters that cannot be reset are read now: limitsHit reports what
	// they gained during this sandbox only.
	cg.base = cg.counters()
	return cg, nil
}

// write writes each value to its "controller/file"; a file ending in "?"
// may be missing.
func (cg *cgroup) write(writes [][2]string) error {
	for _, w := range writes {
		ctrl, file, _ := strings.Cut(w[0], "/")
		optional := strings.HasSuffix(file, "?")
		file = strings.TrimSuffix(file, "?")
		dir, ok := cg.dirs[ctrl]
		if !ok {
			continue
		}
		err := writeKernFile(filepath.Join(dir, file), []byte(w[1]))
		if err != nil && !(optional && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	return nil
}

// reset makes a slot's existing groups as good as new: no process left in
// them (any found is killed: the slot is this sandbox's, so whatever is
// there is a leftover of an earlier one), the memory charged by the last
// sandbox (its page cache) given back, and the resettable peaks and failure
// counters zeroed. The limits are written after it, every time.
func (cg *cgroup) reset() error {
	for c, dir := range cg.dirs {
		if err := emptyGroup(dir, cg.v2[c]); err != nil {
			return err
		}
	}
	if cg.v2["memory"] {
		// No force_empty in v2: reclaim what the group still holds.
		if cur := counterFile(filepath.Join(cg.dirs["memory"], "memory.current")); cur > forceEmptyAbove {
			writeKernFile(filepath.Join(cg.dirs["memory"], "memory.reclaim"), []byte(itoa(cur)))
		}
		// memory.peak and the event counters cannot be reset for
		// everyone: limitsHit compares the counters with a baseline.
		return nil
	}
	// force_empty drains every CPU's page lists first (it waits for a
	// worker on each), which a busy host makes slow: only when the last
	// sandbox left more than the group's own kernel objects charged.
	if counterFile(filepath.Join(cg.dirs["memory"], "memory.usage_in_bytes")) > forceEmptyAbove {
		if err := cg.write([][2]string{{"memory/memory.force_empty", "0"}}); err != nil {
			return err
		}
	}
	return cg.write([][2]string{
		{"memory/memory.max_usage_in_bytes", "0"},
		{"memory/memory.failcnt", "0"},
		{"memory/memory.memsw.max_usage_in_bytes?", "0"},
		{"memory/memory.memsw.failcnt?", "0"},
	})
}

// forceEmptyAbove is the memory charge a reused v1 group may keep without
// a force_empty: about what an empty group's own kernel objects hold.
const forceEmptyAbove = 1 << 20

// emptyGroup kills every process and thread in the group at dir and waits
// (about a second at most) until none is left.
func emptyGroup(dir string, v2 bool) error {
	files := []string{"cgroup.procs"}
	if !v2 {
		files = append(files, "tasks") // threads that joined alone
	}
	wait := 50 * time.Microsecond
	for i := 0; i < 200; i++ {
		left := 0
		for _, f := range files {
			b, err := readKernFile(filepath.Join(dir, f))
			if err != nil {
				return err
			}
			for _, f := range strings.Fields(string(b)) {
				left++
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					killPid(pid)
				}
			}
		}
		if left == 0 {
			return nil
		}
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Millisecond)
	}
	return fmt.Errorf("cgroup %s: processes left", dir)
}

// counters reads the limit counters that only grow.
func (cg *cgroup) counters() map[string]int64 {
	m := map[string]int64{}
	if dir, ok := cg.dirs["memory"]; ok {
		if cg.v2["memory"] {
			m["memory"] = counter(filepath.Join(dir, "memory.events"), "oom_kill")
		} else {
			m["memory"] = counter(filepath.Join(dir, "memory.oom_control"), "oom_kill")
		}
	}
	if dir, ok := cg.dirs["pids"]; ok {
		m["pids"] = counter(filepath.Join(dir, "pids.events"), "max")
	}
	return m
}

func counterFile(file string) int64 {
	b, err := readKernFile(file)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// enableV2 makes controller c available to the children of parent. A v2
// group with processes cannot hand controllers down, so when the host
// process sits in parent itself it first moves into a leaf beside them.
func enableV2(parent, c string) error {
	ctl := filepath.Join(parent, "cgroup.subtree_control")
	if b, err := readKernFile(ctl); err == nil && strings.Contains(" "+string(b)+" ", " "+c+" ") {
		return nil
	}
	err := writeKernFile(ctl, []byte("+"+c))
	if err == nil {
		return nil
	}
	leaf := filepath.Join(parent, "bulwark-host")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("enable cgroup controller %s: %w", c, err)
	}
	if err := writeKernFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid()))); err != nil {
		return fmt.Errorf("enable cgroup controller %s: %w", c, err)
	}
	if err := writeKernFile(ctl, []byte("+"+c)); err != nil {
		return fmt.Errorf("enable cgroup controller %s: %w", c, err)
	}
	return nil
}

// joinFiles returns, for a sandbox init about to start: fds of the v1
// "tasks" files its main thread writes itself into, and the fd of the v2
// group to start it in (CLONE_INTO_CGROUP), or -1.
func (cg *cgroup) joinFiles() (tasks []int, v2 int, err error) {
	v2 = -1
	seen := map[string]bool{}
	for c, dir := range cg.dirs {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		if cg.v2[c] {
			if v2, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				closeAll(tasks)
				return nil, -1, fmt.Errorf("open cgroup: %w", err)
			}
			continue
		}
		fd, err := unix.Open(filepath.Join(dir, "tasks"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(tasks)
			if v2 >= 0 {
				unix.Close(v2)
			}
			return nil, -1, fmt.Errorf("open cgroup: %w", err)
		}
		tasks = append(tasks, fd)
	}
	return tasks, v2, nil
}

// limitsHit reads the groups' counters: which limits the sandbox ran into
// (since its groups were made or reset).
func (cg *cgroup) limitsHit() []string {
	var hit []string
	now := cg.counters()
	for _, c := range []string{"memory", "pids"} {
		if now[c] > cg.base[c] {
			hit = append(hit, c)
		}
	}
	return hit
}

func counter(file, key string) int64 {
	b, err := readKernFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// release gives the groups up when the sandbox is over: a slot's groups
// are kept, with whatever is left in them killed (the next sandbox of the
// slot checks they are empty), other groups are removed. initEnded says
// the sandbox's init was reaped: its pid namespace, which held every
// process of the groups, is empty, and a slot's groups are kept as they
// are, with no look at them.
func (cg *cgroup) release(initEnded bool) {
	defer cg.unlock() // after the kill: the next sandbox finds them empty
	if !cg.keep {
		cg.remove()
		return
	}
	if initEnded {
		return
	}
	for c, dir := range cg.dirs {
		if cg.v2[c] {
			writeKernFile(filepath.Join(dir, "cgroup.kill"), []byte("1"))
			continue
		}
		if b, err := readKernFile(filepath.Join(dir, "cgroup.procs")); err == nil {
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					killPid(pid)
				}
			}
		}
	}
}

// holdsOnly reports whether the groups hold no process but pid (a host
// pid), if that one: every process of a sandbox is in each of its groups,
// so the pids group's list is read.
func (cg *cgroup) holdsOnly(pid int) bool {
	dir, ok := cg.dirs["pids"]
	if !ok {
		return false
	}
	b, err := readKernFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(string(b)) {
		if f != strconv.Itoa(pid) {
			return false
		}
	}
	return true
}

// remove kills whatever is left in the groups and removes them.
func (cg *cgroup) remove() {
	defer cg.unlock()
	for c, dir := range cg.dirs {
		if cg.v2[c] {
			writeKernFile(filepath.Join(dir, "cgroup.kill"), []byte("1"))
		}
		// The kernel frees a group a moment after its last process exits:
		// retry quickly first, then back off (about a second in all).
		wait := 100 * time.Microsecond
		for i := 0; i < 200; i++ {
			if b, _ := readKernFile(filepath.Join(dir, "cgroup.procs")); len(strings.TrimSpace(string(b))) > 0 {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						killPid(pid)
					}
				}
			}
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(wait)
			wait = min(2*wait, 5*time.Millisecond)
		}
	}
}

// readKernFile and writeKernFile read and write a small file of the
// kernel's (a group's, /proc's) with plain system calls. os.ReadFile and
// os.WriteFile register each cgroup file with the runtime's poller, as
// kernfs files can be polled (an epoll_ctl in, an fcntl, an epoll_ctl
// out), and stat it: about 25 files a cold sandbox's groups go through,
// on the cold CLI's path (BENCHMARKS.md, session 31). A missing file is
// an error satisfying errors.Is(err, fs.ErrNotExist), in both.
func readKernFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// kernWrite is unix.Write, for writeKernFile (a test makes it fail).
var kernWrite = unix.Write

// kernWriteTries is how many times writeKernFile writes again after EINTR.
const kernWriteTries = 20

// writeKernFile writes data to the file at path in one write; unlike
// os.WriteFile it never creates the file.
func writeKernFile(path string, data []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	n, err := kernWrite(fd, data)
	// A memory limit below what the group holds makes the write reclaim,
	// and the kernel gives up with EINTR when a signal is pending on the
	// thread (Go's preemption, a child's SIGCHLD): it is written again.
	for i := 0; err == unix.EINTR && i < kernWriteTries; i++ {
		n, err = kernWrite(fd, data)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}
