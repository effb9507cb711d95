package sandbox

import (
	"errors"

	"golang.org/x/sys/unix"
)

// coverage is what the sandbox of a long-lived process (Start) covered of
// its workspace when it started (Spec.Hide): its mount namespace keeps
// those covers, and only those, for its whole life.
type coverage struct {
	ws       string
	patterns []string
	budget   int64             // Spec.WorkspaceFiles
	covered  map[string]fileID // relative path: the file it named at the start
}

// fileID tells a file from another made later under the same name,
// which may get the inode number the removed one had: its birth time
// (its change time where the file system keeps none) is another.
type fileID struct {
	inode
	born unix.StatxTimestamp
}

// coverage records the files that the paths of hidden name now, before
// the init covers them: a file swapped in afterwards (before the init's
// mount or after it) then differs from the record, and counts as
// uncovered (fail closed).
func (b *box) coverage(hidden []string) (*coverage, error) {
	if len(b.spec.Hide) == 0 {
		return nil, nil
	}
	c := &coverage{ws: b.wsDir, patterns: b.spec.Hide, budget: b.spec.WorkspaceFiles, covered: make(map[string]fileID, len(hidden))}
	root, err := unix.Open(b.wsDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, hideError("cannot read the workspace to hide what the policy denies", err)
	}
	defer unix.Close(root)
	for _, p := range hidden {
		id, err := fileBelow(root, p)
		switch {
		case errors.Is(err, unix.ENOENT):
			// Gone since the walk: the init skips it, so nothing
			// covers the name.
		case err != nil:
			return nil, hideError("cannot read the workspace to hide what the policy denies", err)
		default:
			c.covered[p] = id
		}
	}
	return c, nil
}

func (c *coverage) uncovered() (string, error) {
	now, _, err := hiddenPaths(c.ws, c.patterns, c.budget)
	if err != nil {
		return "", err
	}
	root, err := unix.Open(c.ws, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", hideError("cannot read the workspace to hide what the policy denies", err)
	}
	defer unix.Close(root)
	for _, p := range now {
		was, ok := c.covered[p]
		if !ok {
			return p, nil
		}
		id, err := fileBelow(root, p)
		switch {
		case errors.Is(err, unix.ENOENT):
			continue // gone since the walk
		case err != nil || id != was:
			return p, nil
		}
	}
	return "", nil
}

// fileBelow identifies the file rel names below the folder root, following
// no symlink and never leaving it, as the init opens what it covers. (A
// covered name that the host removes loses its cover in the sandbox too:
// the kernel takes the mounts off a name removed in another mount
// namespace.)
func fileBelow(root int, rel string) (fileID, error) {
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fileID{}, err
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, unix.STATX_INO|unix.STATX_BTIME|unix.STATX_CTIME, &st); err != nil {
		return fileID{}, err
	}
	id := fileID{inode: inode{unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino}, born: st.Btime}
	if st.Mask&unix.STATX_BTIME == 0 {
		id.born = st.Ctime
	}
	return id, nil
}

func (c *coverage) covers(rel string) bool {
	was, ok := c.covered[rel]
	if !ok {
		return false
	}
	root, err := unix.Open(c.ws, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(root)
	id, err := fileBelow(root, rel)
	return err == nil && id == was
}
