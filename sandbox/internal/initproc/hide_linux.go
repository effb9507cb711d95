package initproc

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxHidden bounds the paths one command may have hidden (RunRequest.Hide):
// each is a mount of the sandbox's, and they travel in one packet.
const MaxHidden = 1024

// MaxHiddenBytes bounds the length of the paths to hide together (the
// folders pinned above them are no longer).
const MaxHiddenBytes = 16 << 10

// hide covers each path of the workspace in paths (relative to
// /workspace, clean, none inside another) in this mount namespace, so
// that the command cannot reach what is there: a folder by an empty
// read-only folder, anything else by an empty read-only file (a write
// fails, where /dev/null would swallow it). A covered name cannot be
// deleted, renamed or linked (the kernel refuses a mount point, and a
// link across mounts), and a symlink to it, or to a file below it, leads
// to the cover. Each folder of pinned is first bound onto itself, which
// makes it a mount point too: it stays readable and writable, but cannot
// be renamed or removed, so what is hidden below it keeps its path.
//
// The workspace is the agent's to shape, so each path is opened from
// /workspace without following a symlink or leaving it (openat2's
// RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS) and the mount is made on that
// descriptor: nothing outside /workspace is ever mounted on, whatever
// the tree holds or becomes meanwhile. A path that no longer exists is
// skipped (there is nothing to hide); one that became a symlink since the
// host listed it, or that cannot be opened, fails the command (fail
// closed). It runs in the init after the root is built, before the
// thread is restricted (mounting is not allowed after).
func hide(pinned, paths []string) error {
	if len(paths)+len(pinned) == 0 {
		return nil
	}
	if err := checkHidden(append(slices.Clone(pinned), paths...)); err != nil {
		return err
	}
	// The workspace mount is a peer of the host's mount when that is
	// shared (systemd shares every mount; a clone of a shared mount is
	// its peer): a mount made here would appear on the host, and in
	// every sandbox of the workspace. Made private first.
	if err := unix.Mount("", WorkspaceDir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("init: hide: private workspace mount: %w", err)
	}
	ws, err := unix.Open(WorkspaceDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("init: hide: %w", err)
	}
	defer unix.Close(ws)
	// Outer folders first: a bind of a folder (not recursive) made after
	// a mount below it would lie over that mount, and undo it. The covers
	// come last for the same reason.
	pinned = slices.Clone(pinned)
	slices.SortStableFunc(pinned, func(a, b string) int {
		return strings.Count(a, "/") - strings.Count(b, "/")
	})
	for _, p := range pinned {
		if err := pin(ws, p); err != nil {
			return err
		}
	}
	// The covers' tmpfs stays open (close-on-exec) until the init
	// exits: closing a detached mount unmounts it, which waits for an
	// RCU grace period, some 0.4 ms of the command's start.
	covers, err := newCovers()
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := cover(ws, covers, p); err != nil {
			return err
		}
	}
	return nil
}

// openBelow opens rel below the workspace ws as an O_PATH descriptor,
// following no symlink and never leaving it, and says whether it is a
// folder. It returns -1 and no error when rel does not exist (any more).
func openBelow(ws int, rel string) (fd int, dir bool, err error) {
	t, err := unix.Openat2(ws, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case errors.Is(err, unix.ENOENT):
		return -1, false, nil
	case err != nil:
		return -1, false, changed(rel, err)
	}
	// O_NOFOLLOW opens a symlink itself: the host lists none, so one
	// was swapped in since.
	var st unix.Stat_t
	if err := unix.Fstat(t, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
		unix.Close(t)
		return -1, false, changed(rel, unix.ELOOP)
	}
	return t, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

func changed(rel string, err error) error {
	return fmt.Errorf("init: hide %s: the workspace changed while the command started (%w)", rel, err)
}

// pin binds the folder rel onto itself.
func pin(ws int, rel string) error {
	t, dir, err := openBelow(ws, rel)
	if t < 0 {
		return err
	}
	defer unix.Close(t)
	if !dir {
		return nil // no longer a folder: nothing below it to keep
	}
	// The clone keeps the workspace mount's attributes (id mapping,
	// nosuid, nodev, noexec).
	c, err := unix.OpenTree(t, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("init: hide %s: %w", rel, err)
	}
	defer unix.Close(c)
	if err := unix.MountSetattr(c, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Propagation: unix.MS_PRIVATE}); err != nil {
		return fmt.Errorf("init: hide %s: %w", rel, err)
	}
	if err := unix.MoveMount(c, "", t, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("init: hide %s: %w", rel, err)
	}
	return nil
}

// checkHidden refuses a list the host could not have sent: too long, or
// a path that is not a clean relative path below the workspace.
func checkHidden(paths []string) error {
	if len(paths) > MaxHidden {
		return fmt.Errorf("init: hide: %d paths, more than %d", len(paths), MaxHidden)
	}
	for _, p := range paths {
		if p == "" || p == "." || path.Clean(p) != p || strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || strings.ContainsRune(p, 0) {
			return fmt.Errorf("init: hide: %q is not a path below the workspace", p)
		}
	}
	return nil
}

// The names of the empty folder and file in the covers' tmpfs.
const (
	coverDir  = "d"
	coverFile = "f"
)

// newCovers returns a detached tmpfs holding an empty folder and an empty
// file, read-only, owned by the init (the command cannot change their
// modes), from which each cover is cloned.
func newCovers() (int, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("init: hide: tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	for _, o := range [][2]string{{"mode", "0555"}, {"size", "4k"}, {"nr_inodes", "4"}} {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return -1, fmt.Errorf("init: hide: tmpfs %s: %w", o[0], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("init: hide: tmpfs: %w", err)
	}
	const attrs = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("init: hide: tmpfs: %w", err)
	}
	if err := unix.Mkdirat(mnt, coverDir, 0o555); err != nil {
		unix.Close(mnt)
		return -1, fmt.Errorf("init: hide: %w", err)
	}
	f, err := unix.Openat(mnt, coverFile, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o444)
	if err != nil {
		unix.Close(mnt)
		return -1, fmt.Errorf("init: hide: %w", err)
	}
	unix.Close(f)
	if err := unix.MountSetattr(mnt, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		unix.Close(mnt)
		return -1, fmt.Errorf("init: hide: read-only tmpfs: %w", err)
	}
	return mnt, nil
}

// cover mounts a clone of the empty folder or file of covers over rel,
// opened below the workspace ws without following symlinks.
func cover(ws, covers int, rel string) error {
	t, dir, err := openBelow(ws, rel)
	if t < 0 {
		return err
	}
	defer unix.Close(t)
	src := coverFile
	if dir {
		src = coverDir
	}
	c, err := unix.OpenTree(covers, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("init: hide %s: %w", rel, err)
	}
	defer unix.Close(c)
	const attrs = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	if err := unix.MountSetattr(c, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: attrs, Propagation: unix.MS_PRIVATE}); err != nil {
		return fmt.Errorf("init: hide %s: %w", rel, err)
	}
	if err := unix.MoveMount(c, "", t, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("init: hide %s: %w", rel, err)
	}
	return nil
}
