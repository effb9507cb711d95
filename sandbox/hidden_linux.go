package sandbox

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
	"golang.org/x/sys/unix"
)

// maxHideDepth bounds how deep hiddenPaths walks the workspace: one open
// descriptor per level.
const maxHideDepth = 256

// request is the RunRequest of argv for b: its environment, and the
// workspace paths to hide, looked for now (the workspace changes between
// commands).
func (b *box) request(argv []string, announce bool) (runRequest, error) {
	req := runRequest{Argv: argv, Env: commandEnv(b.spec), Announce: announce}
	if len(b.spec.Hide) == 0 {
		return req, nil
	}
	var err error
	req.Hide, req.Pin, err = hiddenPaths(b.wsDir, b.spec.Hide, b.spec.WorkspaceFiles)
	b.spec.Trace.Mark("host: workspace looked through for paths to hide")
	return req, err
}

// hiddenPaths walks the workspace ws and returns its top-most files and
// folders whose path (relative, clean) matches one of patterns
// (Spec.Hide, bulwark.Glob): what the init covers (RunRequest.Hide); and
// the folders above them whose names the match depends on, which the
// init pins (RunRequest.Pin): secrets for secrets/k under secrets/*,
// which a command could otherwise rename for the next one to read the
// file under another name; not conf for conf/x.env under *.env. The
// other hard links of a hidden file (or of a file below a hidden folder)
// are hidden too, found by a second walk made only when there is one.
// Below a match nothing is looked at (but for those links), nor below a folder no pattern could
// match anything in. Symlinks are neither returned nor followed: a link
// leads where its target's own name decides, and a target that is hidden
// is covered where it is. A folder that cannot be listed (its mode
// changed by a command, for a host that is not root) is hidden whole
// when a pattern could match below it, since what it holds cannot be
// known. The walk is bounded (entries, depth); past a bound, and where
// more is hidden than the init may cover, it fails, and the command does
// not run (fail closed).
func hiddenPaths(ws string, patterns []string, maxEntries int64) (hidden, pinned []string, err error) {
	if len(patterns) == 0 {
		return nil, nil, nil
	}
	root, err := unix.Open(ws, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, hideError("cannot read the workspace to hide what the policy denies", err)
	}
	w := hideWalk{patterns: patterns, budget: maxEntries}
	err = w.dir(root, "", 0)
	unix.Close(root)
	if err != nil {
		return nil, nil, err
	}
	// The folders above what a name hides; not above the other names
	// of a hidden file, which are hidden whatever their names.
	pinned = w.pins()
	if len(w.linked) > 0 {
		// A hidden file has another name: find it. A second walk, with
		// a budget of its own, made only then.
		root, err := unix.Open(ws, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, nil, hideError("cannot read the workspace to hide what the policy denies", err)
		}
		hidden := make(map[string]bool, len(w.out))
		for _, p := range w.out {
			hidden[p] = true
		}
		w.budget = maxEntries
		err = w.aliases(root, "", 0, hidden)
		unix.Close(root)
		if err != nil {
			return nil, nil, err
		}
	}
	if len(w.out)+len(pinned) > initproc.MaxHidden {
		return nil, nil, tooMuchHidden()
	}
	return w.out, pinned, nil
}

// pins returns the folders above the hidden paths that must keep their
// names: those where a hidden path with the folder's name replaced by
// another (one no pattern's literal text can match) would no longer be
// hidden.
func (w *hideWalk) pins() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range w.out {
		for i := 0; i < len(p); i++ {
			if p[i] != '/' || seen[p[:i]] {
				continue
			}
			start := strings.LastIndexByte(p[:i], '/') + 1
			renamed := p[:start] + "\x01" + p[i:]
			if !w.matches(renamed) {
				seen[p[:i]] = true
				out = append(out, p[:i])
			}
		}
	}
	return out
}

func tooMuchHidden() error {
	return hideError(fmt.Sprintf("the policy's deny rules hide more files and folders of the workspace than a command can be started with (at most %d): keep such files in one folder and deny the folder (*(secrets/*)=deny), or move them out of the workspace", initproc.MaxHidden), nil)
}

type hideWalk struct {
	patterns []string
	budget   int64 // entries left to look at
	out      []string
	bytes    int
	// linked are the hidden regular files (or files below a hidden
	// folder) with more than one hard link: their other names are
	// hidden too (aliases).
	linked    map[inode]bool
	linkedIno map[uint64]bool // their inode numbers
}

// inode names a file whatever its names.
type inode struct{ dev, ino uint64 }

// noteLinks records in w.linked the entry e of the folder fd, hidden as
// rel, when it is a regular file with more than one hard link, or such
// files below it when it is a folder.
func (w *hideWalk) noteLinks(fd int, e dirent, rel string, depth int) error {
	switch e.typ {
	case unix.DT_REG:
		var st unix.Stat_t
		if err := unix.Fstatat(fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink > 1 {
			if w.linked == nil {
				w.linked, w.linkedIno = map[inode]bool{}, map[uint64]bool{}
			}
			w.linked[inode{st.Dev, st.Ino}] = true
			w.linkedIno[st.Ino] = true
		}
	case unix.DT_DIR:
		if depth >= maxHideDepth {
			return hideError(fmt.Sprintf("the workspace is nested deeper than %d folders, too deep to look for what the policy hides", maxHideDepth), nil)
		}
		sub, err := unix.Openat(fd, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil // gone or unreadable: covered whole all the same
		}
		defer unix.Close(sub)
		entries, err := listDir(sub)
		if err != nil {
			return nil
		}
		for _, c := range entries {
			if w.budget--; w.budget < 0 {
				return hideError("the workspace holds more entries than its file limit: too many to look for what the policy hides", nil)
			}
			if err := w.noteLinks(sub, c, rel+"/"+c.name, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// aliases walks the folder fd (rel its path) for the other names of the
// files in w.linked, outside what is hidden already, and hides them.
func (w *hideWalk) aliases(fd int, rel string, depth int, hidden map[string]bool) error {
	if depth > maxHideDepth {
		return hideError(fmt.Sprintf("the workspace is nested deeper than %d folders, too deep to look for what the policy hides", maxHideDepth), nil)
	}
	entries, err := listDir(fd)
	if err != nil {
		return nil // hidden whole by the first walk, where it matters
	}
	for _, e := range entries {
		if w.budget--; w.budget < 0 {
			return hideError("the workspace holds more entries than its file limit: too many to look for what the policy hides", nil)
		}
		p := e.name
		if rel != "" {
			p = rel + "/" + p
		}
		if hidden[p] {
			continue
		}
		switch e.typ {
		case unix.DT_REG:
			if !w.linkedIno[e.ino] {
				continue // getdents' inode number: no fstatat for most
			}
			var st unix.Stat_t
			if err := unix.Fstatat(fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || !w.linked[inode{st.Dev, st.Ino}] {
				continue
			}
			hidden[p] = true
			if err := w.add(p); err != nil {
				return err
			}
		case unix.DT_DIR:
			sub, err := unix.Openat(fd, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			err = w.aliases(sub, p, depth+1, hidden)
			unix.Close(sub)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// dir walks the folder fd (rel its path, "" for the workspace), which it
// does not close.
func (w *hideWalk) dir(fd int, rel string, depth int) error {
	if depth > maxHideDepth {
		return hideError(fmt.Sprintf("the workspace is nested deeper than %d folders, too deep to look for what the policy hides", maxHideDepth), nil)
	}
	entries, err := listDir(fd)
	if err != nil {
		return w.unreadable(rel, err)
	}
	for _, e := range entries {
		if w.budget--; w.budget < 0 {
			return hideError("the workspace holds more entries than its file limit: too many to look for what the policy hides", nil)
		}
		p := e.name
		if rel != "" {
			p = rel + "/" + p
		}
		switch {
		case e.typ == unix.DT_LNK:
		case w.matches(p):
			if err := w.add(p); err != nil {
				return err
			}
			if err := w.noteLinks(fd, e, p, depth); err != nil {
				return err
			}
		case e.typ == unix.DT_DIR && w.below(p):
			if err := w.sub(fd, e.name, p, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// sub walks the folder name of the folder parent, opened without
// following a symlink (one swapped in since the listing is not walked).
func (w *hideWalk) sub(parent int, name, rel string, depth int) error {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return nil // gone, or no longer a folder, since the listing
	case err != nil:
		return w.unreadable(rel, err)
	}
	defer unix.Close(fd)
	return w.dir(fd, rel, depth+1)
}

// unreadable handles a folder that cannot be listed: hidden whole.
func (w *hideWalk) unreadable(rel string, err error) error {
	if rel == "" {
		return hideError("cannot read the workspace to hide what the policy denies", err)
	}
	return w.add(rel)
}

func (w *hideWalk) add(p string) error {
	w.out = append(w.out, p)
	w.bytes += len(p)
	if len(w.out) > initproc.MaxHidden || w.bytes > initproc.MaxHiddenBytes {
		return tooMuchHidden()
	}
	return nil
}

// matches reports whether the path p matches a pattern.
func (w *hideWalk) matches(p string) bool {
	for _, pat := range w.patterns {
		if bulwark.Glob(pat, p) {
			return true
		}
	}
	return false
}

// below reports whether a pattern could match a path below the folder
// p: bulwark.GlobsMeet of the pattern and p/ followed by any text.
func (w *hideWalk) below(p string) bool {
	g := globQuote(p) + "/" + bulwark.AnyText
	for _, pat := range w.patterns {
		if bulwark.GlobsMeet(pat, g) {
			return true
		}
	}
	return false
}

// globQuote quotes the characters of p that GlobsMeet reads as a glob's.
func globQuote(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func hideError(msg string, err error) error {
	return bulwark.E(bulwark.Invalid, "sandbox.Run", "sandbox: "+msg, err)
}

// dirent is a folder's entry: its name, type (unix.DT_*) and inode
// number.
type dirent struct {
	name string
	typ  uint8
	ino  uint64
}

// listDir lists the folder fd (its offset must be at the start) by
// getdents, the type of an entry the file system does not report taken
// from fstatat, which follows no symlink.
func listDir(fd int) ([]dirent, error) {
	var out []dirent
	err := initproc.Dirents(fd, func(name []byte, typ uint8, ino uint64) {
		e := dirent{name: string(name), typ: typ, ino: ino}
		if e.name == "." || e.name == ".." {
			return
		}
		if e.typ == unix.DT_UNKNOWN {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return // gone since
			}
			e.typ = dtOf(st.Mode)
		}
		out = append(out, e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// dtOf is the unix.DT_* type of a file mode.
func dtOf(mode uint32) uint8 {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return unix.DT_DIR
	case unix.S_IFLNK:
		return unix.DT_LNK
	case unix.S_IFREG:
		return unix.DT_REG
	}
	return unix.DT_UNKNOWN
}
