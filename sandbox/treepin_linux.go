package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
	"golang.org/x/sys/unix"
)

// Pinned root trees: a one-shot process (the CLI's sandbox exec, whose
// init was started early) built its root tree (roottree_linux.go) every
// time, 1 to 1.7 ms on the way to its configuration. As root it now
// keeps the tree it built for the next one: in a mount namespace of its
// own that holds nothing but a tmpfs root with the tree and a description
// of it (its key, the host's mounts when it was built, its sources), and
// that namespace is pinned by a bind mount of its nsfs file at
// treePins.dir/<hash of the tree's key>. A later process enters it on a
// thread that is then discarded, clones the tree (one open_tree), and
// hands the clone to its init as before.
//
// A pin is used only while a build would make the same tree: by the same
// binary file (a build's BuildTree may make another tree), while the host's
// mounts are what they were when it was built (hostMounts: every mount's
// unique id, parent, place, attributes and superblock, but for the pins
// themselves), and every source is the same file (TreeSource.Same). Else
// the tree is built again and the pin replaced; where the host's mounts
// changed, every pin is dropped (they can never match again, and one may
// hold a file system an admin unmounted). Anything unexpected (the folder
// not root's and 0700, a pin that is not a mount namespace or lacks our
// description, no listmount) means a fresh build, as without pins.
//
// The pinned namespace holds only the tree: it was pivoted into its tmpfs
// and the copy of the host's mounts detached, so it keeps alive no host
// mount but those the tree binds. `umount /run/bulwark/trees/*` drops
// them all (`bulwark sandbox check` says how many there are).

// treePinner keeps pins in dir, a folder of root's, 0700.
type treePinner struct{ dir string }

var treePins = treePinner{dir: treePinDir}

const treePinDir = "/run/bulwark/trees"

// maxTreePins bounds the pins: past it, all are dropped.
const maxTreePins = 8

const treePinHeader = "bulwark root tree pin 1"

// treePinReuses counts the trees taken from a pin (for tests and traces).
var treePinReuses atomic.Int64

// pinName is the file name of the pin of s.
func pinName(s initproc.TreeSpec) string {
	sum := sha256.Sum256([]byte(treeKey(s)))
	return hex.EncodeToString(sum[:16])
}

// pinState is what a pin is valid for: this binary (its file's
// identity: a pin's tree is what this build's BuildTree makes) and the
// host's mounts (hostMounts).
type pinState struct {
	exe    string
	mounts [32]byte
}

// reuse returns a clone of the pinned tree of s, or -1, and the state a
// tree built now is pinned with (ok false: it cannot be told, and no
// tree may be pinned or reused).
func (p treePinner) reuse(s initproc.TreeSpec) (fd int, st pinState, ok bool) {
	st.exe = exeIdentity()
	// The default folder's pins too: a CLI's, while tests use their own.
	st.mounts, ok = hostMounts(p.dir, treePinDir)
	if !ok || st.exe == "" {
		return -1, st, false
	}
	dir, err := p.openDir(false)
	if err != nil {
		return -1, st, true
	}
	defer unix.Close(dir)
	name := pinName(s)
	ns, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, st, true
	}
	defer unix.Close(ns)
	if !isMountNamespace(ns) {
		slog.Debug("sandbox: not a pinned root tree, left alone", "path", filepath.Join(p.dir, name))
		return -1, st, true
	}
	want := metaHead(name, st)
	var meta []byte
	fd, meta = inNamespace(ns, func() (int, []byte) {
		b, err := readFileNoFollow("/meta", 1<<20)
		if err != nil || !bytes.HasPrefix(b, want) {
			return -1, b
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, "/tree", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return -1, b
		}
		return fd, b
	})
	if fd < 0 {
		if !bytes.HasPrefix(meta, []byte(treePinHeader+"\n"+name+"\n")) {
			slog.Debug("sandbox: a pinned root tree without our description, left alone", "path", filepath.Join(p.dir, name))
		}
		return -1, st, true
	}
	sources, err := parseSources(meta[len(want):])
	if err != nil {
		unix.Close(fd)
		return -1, st, true
	}
	for _, src := range sources {
		if !src.Same() {
			unix.Close(fd)
			return -1, st, true
		}
	}
	treePinReuses.Add(1)
	return fd, st, true
}

// pinLater returns a clone of tree (built from sources, in state st) for
// the init, and pins tree itself meanwhile, off the way to the init's
// configuration (1 ms or so of a cold process, the price of every run
// whose pin is out of date); waitTreePins waits for it. Where no clone
// can be made, tree itself is returned and not pinned.
func (p treePinner) pinLater(s initproc.TreeSpec, tree int, sources []initproc.TreeSource, st pinState) int {
	clone, err := unix.OpenTree(tree, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return tree
	}
	treePinning.Add(1)
	go func() {
		defer treePinning.Done()
		if err := p.pin(s, tree, sources, st); err != nil {
			slog.Debug("sandbox: root tree not pinned", "err", err)
		}
	}()
	return clone
}

// treePinning counts the pinLater calls in flight.
var treePinning sync.WaitGroup

// waitTreePins waits for the trees being pinned.
func waitTreePins() { treePinning.Wait() }

// pin keeps tree (built from sources, in state st) in a pinned
// namespace; it closes tree.
func (p treePinner) pin(s initproc.TreeSpec, tree int, sources []initproc.TreeSource, st pinState) error {
	defer unix.Close(tree)
	dir, err := p.openDir(true)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	// One pinning process at a time; another one's pin will do.
	if err := unix.Flock(dir, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil
	}
	name := pinName(s)
	p.drop(dir, name)
	names := p.names(dir)
	for _, n := range names {
		// Full, or a pin made in another state, which can never be
		// used again (and may hold what an admin unmounted).
		if len(names) >= maxTreePins || p.stale(dir, n, st) {
			p.drop(dir, n)
		}
	}
	var meta bytes.Buffer
	meta.Write(metaHead(name, st))
	writeSources(&meta, sources)
	ns, err := pinNamespace(tree, meta.Bytes())
	if err != nil {
		return err
	}
	defer unix.Close(ns)
	f, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o400)
	if err != nil {
		return err
	}
	unix.Close(f)
	src := "/proc/self/fd/" + strconv.Itoa(ns)
	err = unix.Mount(src, inDir(dir, name), "", unix.MS_BIND, "")
	if errors.Is(err, unix.EINVAL) {
		// A mount namespace's file cannot be bound onto a shared mount
		// (systemd shares /): the folder becomes a private mount of its
		// own, as unshare(1)'s --mount=FILE needs, and is opened and
		// checked again (the descriptor is of the folder under it).
		if unix.Mount(inDir(dir, "."), inDir(dir, "."), "", unix.MS_BIND, "") == nil {
			unix.Mount("", inDir(dir, "."), "", unix.MS_PRIVATE, "")
		}
		if top, err2 := p.openDir(false); err2 == nil {
			defer unix.Close(top)
			err = unix.Mount(src, inDir(top, name), "", unix.MS_BIND, "")
		}
	}
	if err != nil {
		unix.Unlinkat(dir, name, 0)
	}
	return err
}

// inDir names the entry name of the folder open as dir by a path the
// kernel resolves through the descriptor, for the calls that take no
// descriptor (mount, umount2): a folder renamed or replaced on the way to
// the pins' since it was opened and checked is not followed.
func inDir(dir int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(dir) + "/" + name
}

// names are the pins in dir (by name, sorted).
func (p treePinner) names(dir int) []string {
	f := os.NewFile(uintptr(dupCloexec(dir)), p.dir)
	if f == nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	out := names[:0]
	for _, n := range names {
		if len(n) == 32 {
			out = append(out, n)
		}
	}
	return out
}

func dupCloexec(fd int) int {
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return d
}

// stale reports whether the pin name was made in another state than st
// (a pin that cannot be read counts as not stale: drop decides about it
// alone).
func (p treePinner) stale(dir int, name string, st pinState) bool {
	ns, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(ns)
	if !isMountNamespace(ns) {
		return false
	}
	_, meta := inNamespace(ns, func() (int, []byte) {
		b, _ := readFileNoFollow("/meta", 1<<20)
		return -1, b
	})
	head := []byte(treePinHeader + "\n" + name + "\n")
	if !bytes.HasPrefix(meta, head) {
		return false
	}
	return !bytes.HasPrefix(meta, metaHead(name, st))
}

// drop removes the pin name: its mounts (a pin, or what a race stacked
// on it), then the file. Something else there (a folder) stays.
func (p treePinner) drop(dir int, name string) {
	path := inDir(dir, name)
	for i := 0; i < 4; i++ {
		if unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW) != nil {
			break
		}
	}
	unix.Unlinkat(dir, name, 0)
}

// openDir opens the pins' folder, made (0700) where create says so, and
// checks that it is root's alone.
func (p treePinner) openDir(create bool) (int, error) {
	if create {
		if err := os.Mkdir(filepath.Dir(p.dir), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return -1, err
		}
		if err := os.Mkdir(p.dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return -1, err
		}
	}
	fd, err := unix.Open(p.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st, up unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Uid != 0 || st.Mode&0o7777 != 0o700 {
		unix.Close(fd)
		return -1, fmt.Errorf("%s is not root's folder with mode 0700", p.dir)
	}
	// Nor may another user move it or put another in its place: the
	// folder it is in (its own "..", not a path) is root's and writable
	// by root alone.
	if err := unix.Fstatat(fd, "..", &up, unix.AT_SYMLINK_NOFOLLOW); err != nil || up.Uid != 0 || up.Mode&0o022 != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("%s is in a folder that another user than root may write", p.dir)
	}
	return fd, nil
}

// isMountNamespace reports whether fd is a mount namespace's nsfs file.
func isMountNamespace(fd int) bool {
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) != nil || sfs.Type != unix.NSFS_MAGIC {
		return false
	}
	t, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	return err == nil && t == unix.CLONE_NEWNS
}

// inNamespace runs f on a thread of its own in the mount namespace ns,
// and discards the thread.
func inNamespace(ns int, f func() (int, []byte)) (fd int, b []byte) {
	fd = -1
	onDiscardedThread(func() {
		if unix.Unshare(unix.CLONE_FS) != nil || unix.Setns(ns, unix.CLONE_NEWNS) != nil {
			return
		}
		fd, b = f()
	})
	return fd, b
}

// onDiscardedThread runs f on a thread that ends with it, for f to change
// the thread's namespaces, and returns once f has. Never on the main
// thread: the runtime parks it for good rather than end it, and
// /proc/self shows the main thread's namespaces (the host's mounts that
// mountsChanged watches would be the pin's).
func onDiscardedThread(f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked but on the main thread
		if unix.Gettid() == unix.Getpid() {
			// This goroutine holds the main thread while another
			// one, on another thread, runs f.
			onDiscardedThread(f)
			runtime.UnlockOSThread()
			close(done)
			return
		}
		defer close(done)
		f()
	}()
	<-done
}

// pinNamespace makes a mount namespace that holds tree and meta alone,
// and returns a descriptor of it.
func pinNamespace(tree int, meta []byte) (ns int, err error) {
	ns = -1
	onDiscardedThread(func() {
		err = func() error {
			if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
				return err
			}
			// Nothing made here reaches the host's namespace.
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return err
			}
			var err error
			if ns, err = unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
				return err
			}
			root, err := initproc.NewTmpfs("mode=0700,size=1m,nr_inodes=16", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
			if err != nil {
				return err
			}
			defer unix.Close(root)
			if err := initproc.WriteAt(root, "meta", meta, 0o400); err != nil {
				return err
			}
			if err := unix.Mkdirat(root, "tree", 0o700); err != nil {
				return err
			}
			at, err := unix.Openat(root, "tree", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			err = unix.MoveMount(tree, "", at, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
			unix.Close(at)
			if err != nil {
				return err
			}
			// The tmpfs, with the tree on it, becomes the namespace's
			// root, and the copy of the host's mounts is let go.
			const place = "/proc"
			if err := unix.MoveMount(root, "", unix.AT_FDCWD, place, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
				return err
			}
			if err := unix.Chdir(place); err != nil {
				return err
			}
			if err := unix.PivotRoot(".", "."); err != nil {
				return err
			}
			if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
				return err
			}
			return unix.Chdir("/")
		}()
		if err != nil && ns >= 0 {
			unix.Close(ns)
			ns = -1
		}
	})
	return ns, err
}

func readFileNoFollow(path string, max int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 16<<10)
	for len(out) < max {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
	return nil, errors.New("too large")
}

// metaHead is the start of a pin's description: what it is, its name and
// the state it was built in.
func metaHead(name string, st pinState) []byte {
	return []byte(treePinHeader + "\n" + name + "\n" + hex.EncodeToString(st.mounts[:]) + "\n" + strings.ReplaceAll(st.exe, "\n", " ") + "\n")
}

// writeSources writes each source as five fields, each ended by a NUL
// (no path holds one): path, link, "a" if absent, device, inode.
func writeSources(b *bytes.Buffer, sources []initproc.TreeSource) {
	for _, s := range sources {
		absent := ""
		if s.Absent {
			absent = "a"
		}
		for _, f := range []string{s.Path, s.Link, absent, strconv.FormatUint(s.Dev, 10), strconv.FormatUint(s.Ino, 10)} {
			b.WriteString(f)
			b.WriteByte(0)
		}
	}
}

func parseSources(b []byte) ([]initproc.TreeSource, error) {
	f := strings.Split(string(b), "\x00")
	if len(f) == 0 || f[len(f)-1] != "" || (len(f)-1)%5 != 0 {
		return nil, errors.New("bad sources")
	}
	var out []initproc.TreeSource
	for i := 0; i+5 <= len(f)-1; i += 5 {
		dev, err1 := strconv.ParseUint(f[i+3], 10, 64)
		ino, err2 := strconv.ParseUint(f[i+4], 10, 64)
		if err1 != nil || err2 != nil || !strings.HasPrefix(f[i], "/") {
			return nil, errors.New("bad sources")
		}
		out = append(out, initproc.TreeSource{Path: f[i], Link: f[i+1], Absent: f[i+2] == "a", Dev: dev, Ino: ino})
	}
	return out, nil
}

// The listmount and statmount system calls (Linux 6.8).
const (
	lsmtRoot          = ^uint64(0)
	statmountSBBasic  = 0x1
	statmountMntBasic = 0x2
	statmountMntRoot  = 0x8
	statmountMntPoint = 0x10
	// Offsets in struct statmount.
	smSize     = 0
	smMagic    = 24
	smMntPoint = 108
	smStrings  = 512
)

type mntIDReq struct {
	size  uint32
	spare uint32
	id    uint64
	param uint64
}

// hostMounts is a digest of this process's mount namespace: of each
// mount, its unique id, parent, attributes, propagation, superblock,
// root and mount point (statmount), but for the pins in each of dirs and
// a bind of one of dirs itself. ok is false where the kernel cannot tell
// (before 6.8).
func hostMounts(dirs ...string) (sum [32]byte, ok bool) {
	var ids []uint64
	buf := make([]uint64, 256)
	last := uint64(0)
	for {
		req := mntIDReq{size: uint32(unsafe.Sizeof(mntIDReq{})), id: lsmtRoot, param: last}
		n, _, errno := unix.Syscall6(unix.SYS_LISTMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if errno != 0 {
			return sum, false
		}
		ids = append(ids, buf[:n]...)
		if int(n) < len(buf) {
			break
		}
		last = buf[n-1]
	}
	h := sha256.New()
	sm := make([]byte, 4096)
	for _, id := range ids {
		var size int
		for {
			req := mntIDReq{size: uint32(unsafe.Sizeof(mntIDReq{})), id: id, param: statmountSBBasic | statmountMntBasic | statmountMntRoot | statmountMntPoint}
			_, _, errno := unix.Syscall6(unix.SYS_STATMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&sm[0])), uintptr(len(sm)), 0, 0, 0)
			if errno == unix.EOVERFLOW && len(sm) < 1<<20 {
				sm = make([]byte, 2*len(sm))
				continue
			}
			if errno == unix.ENOENT {
				break // gone since the listing: the digest differs anyway
			}
			if errno != 0 {
				return sum, false
			}
			size = int(binary.NativeEndian.Uint32(sm[smSize:]))
			break
		}
		if size < smStrings || size > len(sm) {
			binary.Write(h, binary.NativeEndian, id)
			continue
		}
		point := cString(sm[smStrings+int(binary.NativeEndian.Uint32(sm[smMntPoint:])) : size])
		if slices.ContainsFunc(dirs, func(d string) bool { return isPinMount(point, d, binary.NativeEndian.Uint64(sm[smMagic:])) }) {
			continue
		}
		h.Write(sm[:size])
	}
	h.Sum(sum[:0])
	return sum, true
}

// isPinMount reports whether the mount at point, of a file system of
// magic, is a pin in dir or a bind of dir itself.
func isPinMount(point, dir string, magic uint64) bool {
	return point == dir || (strings.HasPrefix(point, dir+"/") && magic == unix.NSFS_MAGIC)
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// PinnedTrees reports the root trees pinned for later `bulwark sandbox
// exec` runs (see treepin_linux.go) and their folder; `umount DIR/*`
// drops them.
func PinnedTrees() (n int, dir string) {
	d, err := treePins.openDir(false)
	if err != nil {
		return 0, treePins.dir
	}
	defer unix.Close(d)
	for _, name := range treePins.names(d) {
		ns, err := unix.Openat(d, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		if isMountNamespace(ns) {
			n++
		}
		unix.Close(ns)
	}
	return n, treePins.dir
}
