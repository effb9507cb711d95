package sandbox

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
	"golang.org/x/sys/unix"
)

// A host that is root builds the part of a sandbox's root that is the same
// for every sandbox of one exec plan and set of read-only paths (about 60
// mounts, see initproc.BuildTree) itself, while the init starts, and keeps
// it: each sandbox gets a clone of it, one system call, instead of its init
// making every mount (3 to 5 ms). A kept tree is used only while it is
// what a build would make now: no mount of this process's mount namespace
// changed since (mountsChanged), and every host path it was built from is
// still the same file (TreeSource.Same, a stat each); else it is built
// again.
//
// A process's first tree is not kept: it is handed to that first init as
// it is (no clone), and trees are kept from the second on. A one-shot
// process (the CLI's sandbox exec) would keep its tree only to dissolve
// it as it exits: the last close of a detached tree unmounts its 60
// mounts (0.1 to 0.4 ms closed by hand, an RCU grace period with it),
// and at exit that came between the process's end and its parent's wait
// (0.3 ms of it, BENCHMARKS.md, "Issue 17, the cold CLI (session 35,
// cli)"); the clone is spared too. A process that makes more sandboxes
// builds one tree more, once. A one-shot process as root keeps its tree
// for the next one instead, pinned outside the process (treepin_linux.go).

// rootTrees are the trees built so far, by TreeSpec (treeKey).
var rootTrees = struct {
	sync.Mutex
	trees map[string]*rootTree
	// off is set once the kernel could not build one (before Linux
	// 6.15): every init builds its own root from then on.
	off bool
	// built is set by the process's first tree, which is handed over
	// rather than kept.
	built bool
	// mountinfo is /proc/self/mountinfo, polled for changes of the mount
	// namespace (-1 until opened), and gen counts the changes seen.
	mountinfo int
	gen       uint64
}{mountinfo: -1} // trees is made on first use, not by the package's init

// maxRootTrees bounds the trees kept (a few allowlists' read-only paths).
const maxRootTrees = 8

type rootTree struct {
	fd      int
	sources []initproc.TreeSource
	gen     uint64 // rootTrees.gen when it was built
}

// rootTreesOff turns the root trees off (tests of the init's own build).
var rootTreesOff = false

// pinTreesAlways pins trees in every process, not only one-shot ones
// (tests of the pins).
var pinTreesAlways = false

func treeKey(s initproc.TreeSpec) string {
	var b strings.Builder
	for _, l := range [][]string{s.ExecDirs, s.ExecLibs, s.NoExec, s.ReadOnly} {
		for _, p := range l {
			b.WriteString(p)
			b.WriteByte(0)
		}
		b.WriteByte(1)
	}
	return b.String()
}

// rootTreeFor returns a clone of the root tree for s (the process's first
// tree itself), for the caller to hand to an init and close, or -1 when
// there is none: the init then
// builds its root itself, as it did before the trees (and reports what
// is wrong, if anything).
//
// pinned says the process is one-shot (the CLI's): its tree is taken from
// a pin an earlier one left, or pinned for the next (treepin_linux.go).
func rootTreeFor(s initproc.TreeSpec, pinned bool) int {
	rt := &rootTrees
	rt.Lock()
	defer rt.Unlock()
	if rt.off || rootTreesOff {
		return -1
	}
	if mountsChanged() {
		rt.gen++
	}
	var pin pinState
	pinned = pinned && !rt.built && os.Geteuid() == 0
	if pinned {
		var fd int
		fd, pin, pinned = treePins.reuse(s)
		if fd >= 0 {
			rt.built = true
			return fd
		}
	}
	key := treeKey(s)
	t := rt.trees[key]
	if t != nil && !t.current(rt.gen) {
		unix.Close(t.fd)
		delete(rt.trees, key)
		t = nil
	}
	if t == nil {
		fd, sources, err := initproc.BuildTree(s)
		if err != nil {
			if errors.Is(err, initproc.ErrTreeUnsupported) {
				rt.off = true
			}
			slog.Debug("sandbox: no root tree, the init builds its root", "err", err)
			return -1
		}
		if !rt.built {
			rt.built = true
			if pinned {
				return treePins.pinLater(s, fd, sources, pin)
			}
			return fd
		}
		if len(rt.trees) >= maxRootTrees {
			for k, old := range rt.trees {
				unix.Close(old.fd)
				delete(rt.trees, k)
				break
			}
		}
		t = &rootTree{fd: fd, sources: sources, gen: rt.gen}
		if rt.trees == nil {
			rt.trees = map[string]*rootTree{}
		}
		rt.trees[key] = t
	}
	clone, err := unix.OpenTree(t.fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		slog.Debug("sandbox: cannot clone the root tree, the init builds its root", "err", err)
		return -1
	}
	return clone
}

// current reports whether the tree is still what a build would make now.
func (t *rootTree) current(gen uint64) bool {
	if t.gen != gen {
		return false
	}
	for _, s := range t.sources {
		if !s.Same() {
			return false
		}
	}
	return true
}

// mountsChanged reports whether a mount of this process's mount namespace
// changed since the last call (the first call opens /proc/self/mountinfo
// and reports a change): the kernel flags a poll of that file after every
// change (POLLPRI), and the poll clears the flag. The caller holds
// rootTrees' lock. When the file cannot be watched, every call reports a
// change, and no tree is used twice.
func mountsChanged() bool {
	rt := &rootTrees
	if rt.mountinfo < 0 {
		fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return true
		}
		rt.mountinfo = fd
		return true
	}
	fds := []unix.PollFd{{Fd: int32(rt.mountinfo), Events: unix.POLLPRI}}
	n, err := unix.Poll(fds, 0)
	if err != nil || n < 0 {
		return true
	}
	return fds[0].Revents&(unix.POLLPRI|unix.POLLERR|unix.POLLNVAL) != 0
}
