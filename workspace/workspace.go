// Package workspace gives each task a folder of its own and confines every
// file access to it.
//
// All access goes through an [os.Root] opened on the folder, so the kernel
// resolves names relative to it and no name, however it is spelled, reaches
// a file outside. On top of that the package applies a policy that is simple
// to state:
//
//   - Paths are workspace-relative and slash-separated; see [Clean] for the
//     forms that are refused (absolute, "..", "~", drive letters, NUL bytes).
//   - Symbolic links are never followed. A path with a symbolic link in any
//     element is refused, even a link that points inside the workspace;
//     ReadDir, Stat and Walk report links as links. (Should a link appear
//     between the check and the use, os.Root still keeps the access inside
//     the workspace.)
//   - Only regular files and folders are read, written or deleted: FIFOs,
//     sockets and device nodes are refused, and opened, if at all, without
//     blocking.
//   - A regular file with more than one hard link is neither read, written
//     nor deleted: such a link may share its content with a file outside.
//   - Files are at most MaxFileSize bytes, for reading and for writing.
//
// The package always confines: there is no switch to turn it off.
// BULWARK_RESTRICT_TO_WORKSPACE=false, where a deployment allows it, must be
// implemented by not using this package.
//
// Errors are *bulwark.Error of kind Invalid, NotFound or PermissionDenied
// (Internal for unexpected failures) whose Msg tells a model what to do and
// never shows the host path of the workspace.
package workspace

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/bulwark-agents/bulwark"
)

// DefaultMaxFileSize is the size cap used when Workspace.MaxFileSize is zero.
const DefaultMaxFileSize = 10 << 20 // 10 MiB

// File and folder modes of what the workspace creates.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// tempPrefix starts the names of the temporary files WriteFile renames into
// place.
const tempPrefix = ".bulwark-tmp-"

// Workspace is one task's folder. Its methods take workspace-relative slash
// paths (see Clean) and are safe for concurrent use.
type Workspace struct {
	// MaxFileSize caps, in bytes, the files ReadFile reads and WriteFile
	// writes; zero means DefaultMaxFileSize. Set it before first use.
	MaxFileSize int64
	// Durable makes WriteFile flush each file to disk before it returns (a
	// replaced file before it is renamed into place). Off by default: a
	// workspace is the scratch space of a running agent, and an fsync per
	// write costs more than the rest of an agent step (see BENCHMARKS.md). Turn it on where a write must survive a
	// power cut. Set it before first use.
	Durable bool
	// OnEscape, when set, is called each time a path is refused because it
	// leads outside the workspace (errors.Is(err, ErrEscape)). Set it
	// before first use.
	OnEscape func()

	dir  string
	root *os.Root
	// base is dir relative to the root's folder: "" for a confined
	// workspace, whose root is dir itself; dir without its leading slash
	// for an unrestricted one, whose root is "/".
	base string

	mu     sync.Mutex
	folder *os.File // the workspace folder, opened through root on first use by create
	closed bool
}

// Open opens the workspace in folder dir, creating it (mode 0700, with its
// parents) if it does not exist. The caller closes the workspace.
func Open(dir string) (*Workspace, error) {
	const op = "workspace.Open"
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the workspace folder is not a valid path", err)
	}
	if err := os.MkdirAll(abs, dirMode); err != nil {
		return nil, bulwark.E(bulwark.Internal, op, "could not create the workspace folder", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, bulwark.E(bulwark.Internal, op, "could not open the workspace folder", err)
	}
	return &Workspace{dir: abs, root: root}, nil
}

// OpenUnrestricted opens the workspace in dir like Open, but lets paths
// reach the whole host file system: absolute paths name host files, and
// relative ones are taken from dir. It exists for
// BULWARK_RESTRICT_TO_WORKSPACE=false, which the embedding program must
// announce loudly. The other rules still hold: no symbolic links followed,
// only regular files with one link, size caps; and the process's own
// permissions limit what it reaches.
func OpenUnrestricted(dir string) (*Workspace, error) {
	w, err := Open(dir)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot("/")
	if err != nil {
		w.Close()
		return nil, bulwark.E(bulwark.Internal, "workspace.OpenUnrestricted", "could not open the root folder", err)
	}
	w.root.Close()
	w.root, w.base = root, strings.TrimPrefix(w.dir, "/")
	return w, nil
}

// Unrestricted reports whether the workspace reaches the whole host.
func (w *Workspace) Unrestricted() bool { return w.base != "" }

// hostName maps a name given to an unrestricted workspace to a path
// relative to "/".
func (w *Workspace) hostName(name string) string {
	if strings.HasPrefix(name, "/") {
		if p := strings.TrimLeft(name, "/"); p != "" {
			return p
		}
		return "."
	}
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return name // Clean refuses it with its own message
	}
	return path.Join(w.base, name)
}

// Path returns the absolute host path of the workspace folder, for the
// embedding program (the sandbox binds it). Never show it to a model.
func (w *Workspace) Path() string { return w.dir }

// Close releases the workspace. Using it afterwards fails.
func (w *Workspace) Close() error {
	w.mu.Lock()
	if w.folder != nil {
		w.folder.Close()
		w.folder = nil
	}
	w.closed = true
	w.mu.Unlock()
	return w.root.Close()
}

func (w *Workspace) maxSize() int64 {
	if w.MaxFileSize > 0 {
		return w.MaxFileSize
	}
	return DefaultMaxFileSize
}

// ReadFile returns the content of the regular file name. It refuses folders,
// links, special files, files with more than one hard link and files over
// MaxFileSize.
func (w *Workspace) ReadFile(name string) ([]byte, error) {
	const op = "workspace.ReadFile"
	clean, info, lerr, err := w.resolveStat(op, name, true)
	if err != nil {
		return nil, err
	}
	if lerr == errNotChecked { // the check stopped before name
		info, lerr = w.root.Lstat(clean)
	}
	if lerr != nil {
		return nil, w.pathError(op, name, lerr)
	}
	if err := w.checkInfo(op, name, info); err != nil {
		return nil, err
	}
	f, err := w.root.OpenFile(clean, readFlags, 0)
	if err != nil {
		return nil, w.pathError(op, name, err)
	}
	defer f.Close()
	info, err = f.Stat()
	if err != nil {
		return nil, w.pathError(op, name, err)
	}
	if err := w.checkInfo(op, name, info); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, w.maxSize()+1))
	if err != nil {
		return nil, w.pathError(op, name, err)
	}
	if int64(len(data)) > w.maxSize() {
		// Only the cap and a byte were read: the size is the file's.
		return nil, w.tooBig(op, name, max(info.Size(), int64(len(data))))
	}
	return data, nil
}

// WriteFile creates or replaces the regular file name with data, creating
// missing parent folders (mode 0700). A file that exists is replaced
// whole: the new content is written to a temporary file in the same
// folder and renamed into place, so readers see the old or the new
// content, never a mix. A new file is written in place: until WriteFile
// returns, a reader may find it shorter than data (an agent's own steps
// never do, they run one after the other). A new file gets mode 0600; a
// replaced file keeps its permission bits; see Durable for flushing to
// disk. WriteFile refuses data over MaxFileSize and targets that are
// folders, links, special files or hard-linked files.
func (w *Workspace) WriteFile(name string, data []byte) error {
	_, err := w.Write(name, data)
	return err
}

// Write is WriteFile, also reporting whether name existed (and was
// replaced) rather than created.
func (w *Workspace) Write(name string, data []byte) (replaced bool, err error) {
	const op = "workspace.WriteFile"
	if done, err := w.writeNew(op, name, data); done {
		return false, err
	}
	clean, info, lerr, err := w.resolveStat(op, name, true)
	if err != nil {
		return false, err
	}
	if clean == "." {
		return false, bulwark.Errorf(bulwark.Invalid, op, "path %q is the workspace folder itself; give a file name, such as %q", name, "notes.txt")
	}
	if int64(len(data)) > w.maxSize() {
		return false, w.tooBig(op, name, int64(len(data)))
	}
	if lerr == errNotChecked { // the check stopped before name
		info, lerr = w.root.Lstat(clean)
	}
	mode := fs.FileMode(fileMode)
	switch err := lerr; {
	case err == nil:
		if err := w.checkInfo(op, name, info); err != nil {
			return false, err
		}
		mode = info.Mode().Perm() | 0o600
		replaced = true
	case !errors.Is(err, fs.ErrNotExist):
		return false, w.pathError(op, name, err)
	}
	dir := path.Dir(clean)
	if dir != "." {
		if err := w.root.MkdirAll(dir, dirMode); err != nil {
			return false, w.pathError(op, name, err)
		}
	}
	if !replaced {
		switch err := w.create(dir, path.Base(clean), data, fileMode); {
		case err == nil:
			return false, nil
		case !errors.Is(err, fs.ErrExist):
			return false, w.pathError(op, name, err)
		}
		// The name appeared since the check: replace it whole, as below.
	}
	tmpName := tempPrefix + randomHex()
	if err := w.create(dir, tmpName, data, mode); err != nil {
		return false, w.pathError(op, name, err)
	}
	// Check again just before the rename; rename replaces the name and
	// never writes through a link, so a late swap cannot reach outside.
	if info, lerr := w.root.Lstat(clean); lerr == nil {
		err = w.checkInfo(op, name, info)
	}
	if err == nil {
		err = w.renameTemp(dir, tmpName, clean)
	}
	if err != nil {
		w.root.Remove(path.Join(dir, tmpName))
		return false, w.pathError(op, name, err)
	}
	return replaced, nil
}

// writeNew is Write's first try for the commonest write, a new file
// directly in the workspace folder: it makes the file at once, with
// O_CREAT|O_EXCL|O_NOFOLLOW, instead of checking the name with lstat
// first. The check adds nothing there: the name is one element, so no
// link or folder lies on the way to it, and O_EXCL fails on anything that
// exists at it, a link included (never followed), which then takes
// Write's usual path (check, then replace or refuse). done reports that
// Write is done, with err; it is false for any other name, for an
// unrestricted workspace and when the name was taken.
func (w *Workspace) writeNew(op, name string, data []byte) (done bool, err error) {
	if w.Unrestricted() || strings.IndexByte(name, '/') >= 0 || int64(len(data)) > w.maxSize() {
		return false, nil
	}
	clean, err := Clean(name)
	if err != nil || clean != name || clean == "." {
		return false, nil // Write refuses it, or it has a folder
	}
	switch err := w.create(".", clean, data, fileMode); {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	default:
		return true, w.pathError(op, name, err)
	}
}

// createRoot is create through the root: it makes the file dir/name with
// O_CREAT|O_EXCL (which never follows a link at the name) and writes data
// to it with mode, synced when Durable.
func (w *Workspace) createRoot(dir, name string, data []byte, mode fs.FileMode) error {
	p := path.Join(dir, name)
	f, err := w.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && mode != fileMode {
		err = f.Chmod(mode)
	}
	if err == nil && w.Durable {
		err = f.Sync()
	}
	if err != nil {
		// Remove what was made, unless something has replaced it since.
		if made, serr := f.Stat(); serr == nil {
			w.removeMade(dir, name, made)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Remove deletes the regular file name. It refuses folders, links, special
// files and hard-linked files.
func (w *Workspace) Remove(name string) error {
	const op = "workspace.Remove"
	clean, err := w.resolve(op, name, true)
	if err != nil {
		return err
	}
	if err := w.checkFile(op, name, clean); err != nil {
		return err
	}
	if err := w.root.Remove(clean); err != nil {
		return w.pathError(op, name, err)
	}
	return nil
}

// Stat describes name without following a final symbolic link: a link is
// reported as a link (its Mode has fs.ModeSymlink). Links in the folders
// leading to name are refused.
func (w *Workspace) Stat(name string) (fs.FileInfo, error) {
	const op = "workspace.Stat"
	clean, err := w.resolve(op, name, false)
	if err != nil {
		return nil, err
	}
	info, err := w.root.Lstat(clean)
	if err != nil {
		return nil, w.pathError(op, name, err)
	}
	return info, nil
}

// ReadDir describes the entries of folder name, sorted by name, without
// following links (a link is reported as a link). The workspace's own
// temporary files are left out.
func (w *Workspace) ReadDir(name string) ([]fs.FileInfo, error) {
	const op = "workspace.ReadDir"
	clean, err := w.resolve(op, name, true)
	if err != nil {
		return nil, err
	}
	return w.readDir(op, name, clean)
}

func (w *Workspace) readDir(op, name, clean string) ([]fs.FileInfo, error) {
	f, err := w.root.OpenFile(clean, dirFlags, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil, bulwark.E(bulwark.Invalid, op, fmt.Sprintf("%q is a file, not a folder", name), err)
		}
		return nil, w.pathError(op, name, err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, w.pathError(op, name, err)
	}
	slices.Sort(names)
	infos := make([]fs.FileInfo, 0, len(names))
	for _, n := range names {
		if strings.HasPrefix(n, tempPrefix) {
			continue
		}
		// root.Lstat, not DirEntry.Info: the latter looks the name up by
		// its host path, outside the root's protection.
		info, err := w.root.Lstat(path.Join(clean, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, w.pathError(op, path.Join(name, n), err)
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// WalkFunc is called by Walk for each entry: name is its workspace-relative
// path, info describes it as Stat does. Returning fs.SkipDir skips the rest
// of the current folder (or the folder info describes); fs.SkipAll ends the
// walk without an error; any other error ends it with that error.
type WalkFunc func(name string, info fs.FileInfo) error

// Walk visits folder dir and everything under it, in lexical order, folders
// before their contents. It never follows symbolic links: a link is visited
// as a link and not descended into.
func (w *Workspace) Walk(dir string, fn WalkFunc) error {
	const op = "workspace.Walk"
	clean, err := w.resolve(op, dir, false)
	if err != nil {
		return err
	}
	info, err := w.root.Lstat(clean)
	if err != nil {
		return w.pathError(op, dir, err)
	}
	err = w.walk(op, clean, info, fn)
	if err == fs.SkipDir || err == fs.SkipAll {
		return nil
	}
	return err
}

func (w *Workspace) walk(op, name string, info fs.FileInfo, fn WalkFunc) error {
	shown := name
	if w.Unrestricted() {
		shown = "/" + name // names the caller can pass back
	}
	if err := fn(shown, info); err != nil || !info.IsDir() {
		if err == fs.SkipDir && info.IsDir() {
			return nil
		}
		return err
	}
	infos, err := w.readDir(op, name, name)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return nil // removed while walking
	}
	if err != nil {
		return err
	}
	for _, child := range infos {
		if err := w.walk(op, path.Join(name, child.Name()), child, fn); err != nil {
			if err == fs.SkipDir {
				return nil
			}
			return err
		}
	}
	return nil
}

// resolve cleans name and refuses it when one of its elements is a symbolic
// link: every element when final is true, the folders leading to it
// otherwise.
func (w *Workspace) resolve(op, name string, final bool) (string, error) {
	clean, _, _, err := w.resolveStat(op, name, final)
	return clean, err
}

// resolveStat is resolve, also returning what Lstat said of the last
// element when final is true and the check reached it (info, lerr); lerr is
// errNotChecked when it did not.
func (w *Workspace) resolveStat(op, name string, final bool) (clean string, info fs.FileInfo, lerr error, err error) {
	lerr = errNotChecked
	if w.Unrestricted() {
		name = w.hostName(name)
	}
	clean, err = Clean(name)
	if err != nil {
		return "", nil, lerr, w.observe(err)
	}
	if clean == "." {
		return clean, nil, lerr, nil
	}
	elems := strings.Split(clean, "/")
	if !final {
		elems = elems[:len(elems)-1]
	}
	for i := range elems {
		prefix := strings.Join(elems[:i+1], "/")
		info, err := w.root.Lstat(prefix)
		if final && i == len(elems)-1 {
			lerr = err
		}
		if err != nil {
			// A missing element ends the check: nothing below it exists.
			// Other failures show up, classified, when name is used.
			return clean, info, lerr, nil
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			what := fmt.Sprintf("path %q goes through %q, which", name, prefix)
			if prefix == clean {
				what = fmt.Sprintf("%q", name)
			}
			var outside error
			if !w.Unrestricted() && w.linkLeaves(prefix) {
				outside = ErrEscape
			}
			return "", nil, lerr, w.observe(bulwark.E(bulwark.PermissionDenied, op,
				what+" is a symbolic link; the file tools do not follow links, so use the path of the real file or folder", outside))
		}
		if !info.IsDir() && i < len(elems)-1 {
			return "", nil, lerr, bulwark.Errorf(bulwark.Invalid, op,
				"path %q goes through %q, which is a file, not a folder", name, prefix)
		}
		if final && i == len(elems)-1 {
			return clean, info, nil, nil
		}
	}
	return clean, nil, lerr, nil
}

// errNotChecked stands for an Lstat resolveStat did not make.
var errNotChecked = errors.New("not checked")

// linkLeaves reports whether the symbolic link at clean points outside the
// workspace (an absolute target, or one that climbs above its root).
func (w *Workspace) linkLeaves(clean string) bool {
	target, err := w.root.Readlink(clean)
	if err != nil {
		return false
	}
	if path.IsAbs(target) {
		return true
	}
	t := path.Join(path.Dir(clean), target)
	return t == ".." || strings.HasPrefix(t, "../")
}

// checkFile refuses name unless it is a regular file with one link.
func (w *Workspace) checkFile(op, name, clean string) error {
	info, err := w.root.Lstat(clean)
	if err != nil {
		return w.pathError(op, name, err)
	}
	return w.checkInfo(op, name, info)
}

// checkInfo refuses anything but a regular file with one link.
func (w *Workspace) checkInfo(op, name string, info fs.FileInfo) error {
	mode := info.Mode()
	switch {
	case mode.IsDir():
		return bulwark.Errorf(bulwark.Invalid, op, "%q is a folder, not a file", name)
	case mode&fs.ModeSymlink != 0:
		return bulwark.Errorf(bulwark.PermissionDenied, op,
			"%q is a symbolic link; the file tools do not follow links, so use the path of the real file", name)
	case !mode.IsRegular():
		return bulwark.Errorf(bulwark.PermissionDenied, op,
			"%q is a special file (%s), not a regular file; the file tools handle only regular files and folders", name, kindOf(mode))
	case linkCount(info) > 1:
		return bulwark.Errorf(bulwark.PermissionDenied, op,
			"%q has more than one hard link, so it may share its content with a file outside the workspace; the file tools refuse such files", name)
	}
	return nil
}

func (w *Workspace) tooBig(op, name string, size int64) error {
	return bulwark.Errorf(bulwark.Invalid, op,
		"file %q is too big: %s, and files may be at most %s", name, formatSize(size), formatSize(w.maxSize()))
}

// kindOf names a special file's type.
func kindOf(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a device"
	}
	return "an irregular file"
}

// formatSize writes n bytes for a person: "512 bytes", "10 MiB".
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func randomHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pathError turns an error from the file system into a *bulwark.Error about
// name, the path as the caller gave it. The cause is kept for the log.
func (w *Workspace) pathError(op, name string, err error) error {
	return w.observe(pathError(op, name, err))
}

// observe tells OnEscape of an error that refused a path leaving the
// workspace, and returns err.
func (w *Workspace) observe(err error) error {
	if w.OnEscape != nil && errors.Is(err, ErrEscape) {
		w.OnEscape()
	}
	return err
}

func pathError(op, name string, err error) error {
	var be *bulwark.Error
	if errors.As(err, &be) {
		return err
	}
	var kind bulwark.Kind
	var msg string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		kind, msg = bulwark.NotFound, fmt.Sprintf("%q does not exist in the workspace", name)
	case errors.Is(err, syscall.ENOTDIR):
		kind, msg = bulwark.Invalid, fmt.Sprintf("path %q goes through a file as if it were a folder", name)
	case errors.Is(err, syscall.EISDIR):
		kind, msg = bulwark.Invalid, fmt.Sprintf("%q is a folder, not a file", name)
	case errors.Is(err, syscall.ENAMETOOLONG):
		kind, msg = bulwark.Invalid, fmt.Sprintf("path %q is too long", shorten(name))
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		kind, msg = bulwark.QuotaExceeded, "the workspace's disk is full"
	case errors.Is(err, fs.ErrPermission):
		kind, msg = bulwark.PermissionDenied, fmt.Sprintf("permission to use %q was denied", name)
	case errors.Is(err, syscall.ELOOP), strings.Contains(err.Error(), "escapes"):
		return bulwark.E(bulwark.PermissionDenied, op,
			fmt.Sprintf("path %q leads outside the workspace through a symbolic link", name), fmt.Errorf("%w: %w", ErrEscape, err))
	default:
		kind, msg = bulwark.Internal, fmt.Sprintf("could not use %q in the workspace", name)
	}
	return bulwark.E(kind, op, msg, err)
}
