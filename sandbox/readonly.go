package sandbox

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// readOnlyMounts checks Spec.ReadOnly and returns where the sandbox must
// bind host paths read-only: each path as given (cleaned) and, when a
// symlink lies on its way, its real path too (programs such as node
// resolve their files to real paths, and AllowExec entries are resolved
// to real paths). Paths inside the system folders are dropped (already
// readable), and so are paths inside another entry (already bound).
func readOnlyMounts(paths []string) ([]string, error) {
	const op = "sandbox.Spec"
	var targets []string
	for _, p := range paths {
		if p == "" || !filepath.IsAbs(p) || strings.ContainsRune(p, 0) {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "read-only path %q: want an absolute host path", p)
		}
		clean := filepath.Clean(p)
		if why := readOnlyRefusal(clean); why != "" {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "read-only path %q %s", p, why)
		}
		real, err := filepath.EvalSymlinks(clean)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, bulwark.Errorf(bulwark.Invalid, op, "read-only path %q does not exist", p)
			}
			return nil, bulwark.E(bulwark.Invalid, op, "read-only path "+strconv.Quote(p)+": "+pathErr(err), err)
		}
		if why := readOnlyRefusal(real); why != "" {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "read-only path %q: its real path %s %s", p, real, why)
		}
		for _, t := range []string{clean, real} {
			if !initproc.InSystemDirs(t) {
				targets = append(targets, t)
			}
		}
		if _, err := os.Stat(real); err != nil {
			return nil, bulwark.E(bulwark.Invalid, op, "read-only path "+strconv.Quote(p)+": "+pathErr(err), err)
		}
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	var out []string
	for _, t := range targets {
		if n := len(out); n > 0 && initproc.Under(t, out[n-1]) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// readOnlyRefusal says why the clean absolute path t cannot be bound
// read-only in the sandbox, or "" when it can.
func readOnlyRefusal(t string) string {
	if t == "/" {
		return "would cover the whole sandbox"
	}
	for _, d := range append(append([]string(nil), initproc.OwnDirs...), initproc.SystemDirs...) {
		if initproc.Under(d, t) {
			return "would cover the sandbox's own " + d
		}
	}
	for _, d := range initproc.OwnDirs {
		if initproc.Under(t, d) {
			return "is inside " + d + ", which the sandbox makes itself"
		}
	}
	return ""
}

// pathErr is the reason of a path error, without the path again.
func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// readOnlyBesideWorkspace refuses read-only paths that overlap the host
// folder of the workspace: the command writes there, so a program it
// wrote would appear under a read-only path, where AllowExec may let it
// run, and the workspace would be visible a second time.
func readOnlyBesideWorkspace(targets []string, workspace string) error {
	if workspace == "" || len(targets) == 0 {
		return nil
	}
	ws, err := filepath.Abs(workspace)
	if err != nil {
		return nil // the workspace's own bind reports it
	}
	wss := []string{filepath.Clean(ws)}
	if real, err := filepath.EvalSymlinks(ws); err == nil {
		wss = append(wss, real)
	}
	for _, t := range targets {
		for _, w := range wss {
			if initproc.Under(t, w) || initproc.Under(w, t) {
				return bulwark.Errorf(bulwark.Invalid, "sandbox.Spec", "read-only path %s overlaps the workspace %s, which the command writes", t, workspace)
			}
		}
	}
	return nil
}

// maxReadOnlyEntries bounds the files readOnlySockets looks at.
const maxReadOnlyEntries = 1 << 20

// readOnlySockets refuses read-only paths that hold a Unix socket. A
// read-only mount does not stop connect(2) on a socket file (only write
// permission on it counts, and Landlock before ABI 9 does not handle it),
// so a service's socket under such a path would be a way out of the
// sandbox. Sockets created there after the start are not seen: list
// folders of code and data, not folders where services run.
func readOnlySockets(targets []string) error {
	const op = "sandbox.Spec"
	n := 0
	for _, t := range targets {
		err := filepath.WalkDir(t, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if n++; n > maxReadOnlyEntries {
				return bulwark.Errorf(bulwark.Invalid, op, "read-only path %s holds more than %d files: too many to check for sockets", t, maxReadOnlyEntries)
			}
			if d.Type()&fs.ModeSocket != 0 {
				return bulwark.Errorf(bulwark.Invalid, op, "read-only path %s holds the Unix socket %s, which the sandbox could connect to: list a folder without sockets", t, p)
			}
			return nil
		})
		if err != nil {
			var be *bulwark.Error
			if errors.As(err, &be) {
				return err
			}
			return bulwark.E(bulwark.Invalid, op, "read-only path "+t+": "+pathErr(err), err)
		}
	}
	return nil
}

// allowedOutside refuses, before any sandbox is made, an absolute AllowExec
// entry whose real file is neither in the system folders nor under a
// read-only path (the init would refuse it at setup, less clearly). Names
// and files that are not there are left to the init, which skips them.
func allowedOutside(allow, readOnly []string, workspaceExec bool) error {
	for _, c := range allow {
		if !filepath.IsAbs(c) || (workspaceExec && initproc.InWorkspace(c)) {
			continue
		}
		real, err := filepath.EvalSymlinks(c)
		if err != nil || initproc.InSystemDirs(real) {
			continue
		}
		inside := false
		for _, t := range readOnly {
			inside = inside || initproc.Under(real, t)
		}
		if !inside {
			return bulwark.Errorf(bulwark.Invalid, "sandbox.Spec", "allowed command %q is %s, outside the system folders and the read-only paths: add its folder to the read-only paths", c, real)
		}
	}
	return nil
}
