package initproc

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// The sandbox's root, apart from what is its own (the allowed programs,
// /tmp, /dev/shm, /proc, the workspace, the proxy's trust files), is the
// same for every sandbox of one exec plan and set of read-only paths: about
// 60 mounts, which the init took 3 to 5 ms to make one by one. A host that
// is root builds that part instead, once, as a detached mount tree
// (BuildTree): a read-only tmpfs root with the binds laid over it, in the
// order and with the attributes buildRoot gives them. Each sandbox gets a
// clone of the whole tree (one open_tree call), which its init attaches
// (attachTree) before it adds its own mounts. Mounting onto a detached
// tree needs Linux 6.15; where the kernel refuses, the host builds nothing
// and the init builds its root itself (buildRoot).

// TreeSpec is what a root tree holds besides what every root has.
type TreeSpec struct {
	ExecDirs, ExecLibs, NoExec, ReadOnly []string
}

// TreeSource is one host path a root tree was built from, as it was then:
// the tree is what BuildTree would build now only as long as every source
// is still the same file (Same), and the host's mounts did not change.
type TreeSource struct {
	Path string
	// Link is the target of a system folder that was a symlink.
	Link string
	// Absent says the path could not be statted (nothing was bound).
	Absent   bool
	Dev, Ino uint64
}

// Same reports whether the path is still what it was when the tree was
// built: the same file or folder (device and inode, symlinks followed;
// the tree holds the old one, so its inode cannot be reused), the same
// symlink, or still absent.
func (s TreeSource) Same() bool {
	if s.Link != "" {
		t, err := os.Readlink(s.Path)
		return err == nil && t == s.Link
	}
	var st unix.Stat_t
	if err := unix.Stat(s.Path, &st); err != nil {
		return s.Absent
	}
	return !s.Absent && st.Dev == s.Dev && st.Ino == s.Ino
}

// ErrTreeUnsupported is returned by BuildTree when the kernel cannot mount
// onto a detached tree (before Linux 6.15).
var ErrTreeUnsupported = errors.New("the kernel cannot mount onto a detached mount tree")

const (
	treeRO     = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	treeNoexec = treeRO | unix.MOUNT_ATTR_NOEXEC
)

// BuildTree builds the root tree of s and returns a descriptor of it
// (close-on-exec) and the sources it was built from. Only a host that is
// root can.
func BuildTree(s TreeSpec) (fd int, sources []TreeSource, err error) {
	root, err := NewTmpfs("mode=0755,size=1m,nr_inodes=4096", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, nil, err
	}
	defer func() {
		if err != nil {
			unix.Close(root)
		}
	}()
	for _, d := range []string{"usr", "etc", "dev", "proc", "tmp", "workspace", "run"} {
		if err := unix.Mkdirat(root, d, 0o755); err != nil {
			return -1, nil, fmt.Errorf("tree: %s: %w", d, err)
		}
	}
	for name, content := range etcGenerated {
		if err := WriteAt(root, "etc/"+name, []byte(content), 0o644); err != nil {
			return -1, nil, err
		}
	}
	// bind lays the host's src over the same path in the tree at top.
	bind := func(top int, src, target string, attrs uint64, recursive bool) error {
		flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
		setFlags := uint(unix.AT_EMPTY_PATH)
		if recursive {
			flags |= unix.AT_RECURSIVE
			setFlags |= unix.AT_RECURSIVE
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, src, flags)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				// The host does not have it: nothing to bind, as
				// long as it stays so.
				sources = append(sources, TreeSource{Path: src, Absent: true})
				return nil
			}
			return fmt.Errorf("tree: bind %s: %w", src, err)
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("tree: bind %s: %w", src, err)
		}
		sources = append(sources, TreeSource{Path: src, Dev: st.Dev, Ino: st.Ino})
		// Private: a clone of a shared mount (systemd shares them all)
		// is a peer of the host's, and a mount made on either side
		// would appear on the other (a host mount under a read-only
		// folder in every running sandbox, each init's program binds on
		// the host).
		if err := unix.MountSetattr(fd, "", setFlags, &unix.MountAttr{Attr_set: attrs, Propagation: unix.MS_PRIVATE}); err != nil {
			return fmt.Errorf("tree: restrict %s: %w", src, err)
		}
		if err := mountPoint(top, target, st.Mode&unix.S_IFMT != unix.S_IFDIR); err != nil {
			return err
		}
		return attachAt(fd, top, target)
	}
	// /dev first, whole before it is attached: the attributes of a mount
	// inside a detached tree cannot be changed, only its top's.
	dev, err := NewTmpfs("mode=0755,size=64k,nr_inodes=64", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, nil, err
	}
	defer unix.Close(dev)
	for _, l := range [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}} {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil {
			return -1, nil, fmt.Errorf("tree: dev/%s: %w", l[1], err)
		}
	}
	if err := unix.Mkdirat(dev, "shm", 0o755); err != nil {
		return -1, nil, fmt.Errorf("tree: dev/shm: %w", err)
	}
	for _, d := range devices {
		if err := bind(dev, "/dev/"+d, d, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC, false); err != nil {
			return -1, nil, err
		}
	}
	if err := unix.MountSetattr(dev, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return -1, nil, fmt.Errorf("tree: read-only /dev: %w", err)
	}
	if err := attachAt(dev, root, "dev"); err != nil {
		return -1, nil, err
	}
	// The stacking order of buildRoot.
	for _, d := range SystemDirs {
		if t, err := os.Readlink(d); err == nil {
			sources = append(sources, TreeSource{Path: d, Link: t})
			if err := unix.Symlinkat(t, root, d[1:]); err != nil {
				return -1, nil, fmt.Errorf("tree: %s: %w", d, err)
			}
			continue
		}
		if err := bind(root, d, d[1:], treeNoexec, true); err != nil {
			return -1, nil, err
		}
	}
	steps := []struct {
		paths     []string
		attrs     uint64
		recursive bool
	}{
		{s.ExecDirs, treeRO, true},
		{s.ExecLibs, treeRO, false},
		{s.NoExec, treeNoexec, true},
		{etcPaths(), treeNoexec, true},
		{s.ReadOnly, treeNoexec, true},
	}
	for _, step := range steps {
		for _, p := range step.paths {
			if err := bind(root, p, p[1:], step.attrs, step.recursive); err != nil {
				return -1, nil, err
			}
		}
	}
	for _, d := range etcPrivate {
		var st unix.Stat_t
		if err := unix.Fstatat(root, d[1:], &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		cover, err := NewTmpfs("mode=0755,size=4k,nr_inodes=1", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
		if err != nil {
			return -1, nil, err
		}
		err = attachAt(cover, root, d[1:])
		unix.Close(cover)
		if err != nil {
			return -1, nil, err
		}
	}
	// The root is read-only from now on, in every clone, as /dev is.
	if err := unix.MountSetattr(root, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return -1, nil, fmt.Errorf("tree: read-only /: %w", err)
	}
	return root, sources, nil
}

func etcPaths() []string {
	out := make([]string, len(etcEntries))
	for i, e := range etcEntries {
		out[i] = "/etc/" + e
	}
	return out
}

// NewTmpfs makes a detached tmpfs mount with options opts ("k=v,...") and
// mount attributes attrs.
func NewTmpfs(opts string, attrs int) (int, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("tree: tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return -1, fmt.Errorf("tree: tmpfs %s: %w", o, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("tree: tmpfs: %w", err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("tree: tmpfs: %w", err)
	}
	return fd, nil
}

// openIn opens rel (relative, inside the tree at root) as an O_PATH
// descriptor, resolved as the sandbox will resolve it: absolute symlinks
// and ".." stay inside the tree.
func openIn(root int, rel string, flags uint64) (int, error) {
	return unix.Openat2(root, rel, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
}

// attachAt mounts the detached mount fd over rel in the tree at root.
func attachAt(fd, root int, rel string) error {
	t, err := openIn(root, rel, unix.O_PATH)
	if err != nil {
		return fmt.Errorf("tree: /%s: %w", rel, err)
	}
	defer unix.Close(t)
	err = unix.MoveMount(fd, "", t, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if errors.Is(err, unix.EINVAL) {
		return ErrTreeUnsupported
	}
	if err != nil {
		return fmt.Errorf("tree: attach /%s: %w", rel, err)
	}
	return nil
}

// mountPoint makes sure rel exists in the tree at root, as a file or a
// folder, with the folders above it.
func mountPoint(root int, rel string, file bool) error {
	if t, err := openIn(root, rel, unix.O_PATH); err == nil {
		unix.Close(t)
		return nil
	}
	dir := path.Dir(rel)
	if dir != "." {
		if err := mountPoint(root, dir, false); err != nil {
			return err
		}
	}
	if file {
		return WriteAt(root, rel, nil, 0o644)
	}
	if err := unix.Mkdirat(root, rel, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("tree: /%s: %w", rel, err)
	}
	return nil
}

// WriteAt creates the file rel in the tree at root, whose folders are the
// tree's own (not a bind), with content.
func WriteAt(root int, rel string, content []byte, mode uint32) error {
	fd, err := unix.Openat(root, rel, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return fmt.Errorf("tree: /%s: %w", rel, err)
	}
	defer unix.Close(fd)
	for len(content) > 0 {
		n, err := unix.Write(fd, content)
		if err != nil {
			return fmt.Errorf("tree: /%s: %w", rel, err)
		}
		content = content[n:]
	}
	return nil
}

// attachTree is buildRoot for an init given a root tree (treeFd, a clone
// of the host's): it attaches the tree, adds the sandbox's own mounts and
// pivots into it.
func attachTree(cfg *Config, treeFd, wsFd int, allowExec []string) error {
	defer unix.Close(wsFd)
	defer unix.Close(treeFd)
	if err := makeMountsPrivate(); err != nil {
		return err
	}
	// The read-only paths must be readable by the sandbox, which the
	// host (root) did not check.
	for _, p := range cfg.ReadOnly {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("read-only path %s: %w (the sandbox reads it as an unprivileged user: it and the folders above it must be readable by all)", p, unwrapPath(err))
		}
	}
	// The allowed programs, executable over everything, taken before the
	// tree hides /tmp.
	var progs []int
	defer func() { CloseAll(progs) }()
	for _, p := range allowExec {
		fd, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("init: bind %s: %w", p, err)
		}
		progs = append(progs, fd)
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: treeRO}); err != nil {
			return fmt.Errorf("init: restrict %s: %w", p, err)
		}
	}
	const root = "/tmp"
	if err := unix.MoveMount(treeFd, "", unix.AT_FDCWD, root, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("init: attach the root: %w", err)
	}
	// The host made the tree's binds private; again here, before the
	// init mounts anything onto them, so that nothing it mounts can
	// reach the host's namespace whatever the tree is.
	if err := unix.Mount("", root, "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("init: make the root's mounts private: %w", err)
	}
	rootFd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	defer unix.Close(rootFd)
	for i, p := range allowExec {
		// Every allowed program is in a system folder or a read-only
		// path (resolveAllowed), so it is in the tree already.
		if err := attachAt(progs[i], rootFd, p[1:]); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	if cfg.TrustPEM != "" || len(gitPrograms(allowExec)) > 0 {
		if err := unix.Mount("tmpfs", root+"/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=1m,nr_inodes=16"); err != nil {
			return fmt.Errorf("init: /run: %w", err)
		}
		if err := writeTrust(root, cfg.TrustPEM); err != nil {
			return err
		}
		if err := mountGitGuards(root, allowExec); err != nil {
			return err
		}
		if err := unix.MountSetattr(unix.AT_FDCWD, root+"/run", 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("init: read-only /run: %w", err)
		}
	}
	return finishRoot(cfg, root, wsFd)
}
