package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
	"golang.org/x/sys/unix"
)

// Landlock grants EXECUTE on a file, and the program in it decides what
// it does from argv[0], which the command chooses: exec -a, execv with any
// argv, a symlink of any name in the workspace (a symlink in a noexec
// folder still runs its target). For most programs argv[0] changes
// nothing. A multi-call program (busybox, toybox, uutils' coreutils) runs
// whichever of its applets argv[0] or its first argument names: allowing
// "ls" where ls is busybox would allow sh, wget, nc and the rest. So the
// sandbox refuses to start with an allowed name that resolves to such a
// program unless the allowlist names the program itself (by its own name
// or real path), which is allowing all it does on purpose.
//
// Such a program is known by its name (multiCallPrograms), or by the many
// names it is installed under: more than maxAliases names in the PATH
// folders (symlinks or hard links) that are neither allowed nor its own,
// found once per exec plan (execPlan.Aliases). A few names are common for
// ordinary programs (python3 and python3.11, awk and nawk to mawk, gunzip
// and uncompress, bash and rbash) and stay allowed.

// multiCallPrograms are the known multi-call programs' file names.
var multiCallPrograms = []string{"busybox", "toybox", "coreutils", "uutils", "uutils-coreutils", "box"}

// maxAliases is how many other names a file may have in the PATH folders,
// not allowed, before it is taken for a multi-call program.
const maxAliases = 2

// scanAliases finds, in the folders dirs, the files reached by more than
// one name (symlinks followed, hard links), and returns each such file's
// real paths mapped to all its names. stamp is called with each folder
// read, for the exec plan's freshness.
func scanAliases(dirs []string, stamp func(string)) map[string][]string {
	type file struct {
		real  []string
		names []string
	}
	byInode := map[[2]uint64]*file{}
	add := func(name, real string) {
		var st unix.Stat_t
		if unix.Stat(real, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return
		}
		k := [2]uint64{st.Dev, st.Ino}
		f := byInode[k]
		if f == nil {
			f = &file{}
			byInode[k] = f
		}
		if !slices.Contains(f.real, real) {
			f.real = append(f.real, real)
		}
		if !slices.Contains(f.names, name) {
			f.names = append(f.names, name)
		}
	}
	done := map[string]bool{}
	for _, d := range dirs {
		stamp(d)
		r, err := filepath.EvalSymlinks(d)
		if err != nil || done[r] {
			continue
		}
		done[r] = true
		ents, _ := os.ReadDir(r)
		for _, e := range ents {
			p := filepath.Join(r, e.Name())
			switch {
			case e.Type()&os.ModeSymlink != 0:
				if real, err := filepath.EvalSymlinks(p); err == nil {
					add(p, real)
				}
			case e.Type().IsRegular():
				add(p, p)
			}
		}
	}
	out := map[string][]string{}
	for _, f := range byInode {
		if len(f.names) < 2 {
			continue
		}
		slices.Sort(f.names)
		for _, r := range f.real {
			out[r] = f.names
		}
	}
	return out
}

// multiCallProblem returns an error (kind Invalid) when an entry of allow
// resolves to a multi-call program that allow does not name itself;
// aliases is execPlan.Aliases, resolve returns an entry's real path on
// the host ("" when not installed).
func multiCallProblem(allow []string, aliases map[string][]string, resolve func(string) string) error {
	allowed := map[string]bool{}
	for _, a := range allow {
		allowed[a] = true
		allowed[filepath.Base(a)] = true
	}
	for _, a := range allow {
		real := resolve(a)
		if real == "" {
			continue
		}
		own := filepath.Base(real)
		if allowed[own] || allowed[real] {
			continue // the program itself is allowed, on purpose
		}
		var others []string
		for _, n := range aliases[real] {
			if b := filepath.Base(n); !allowed[b] && b != own && !slices.Contains(others, b) {
				others = append(others, b)
			}
		}
		if !slices.Contains(multiCallPrograms, own) && len(others) <= maxAliases {
			continue
		}
		also := ""
		if len(others) > 0 {
			if len(others) > 8 {
				others = append(others[:8], "...")
			}
			also = ", also installed as " + strings.Join(others, ", ")
		}
		return bulwark.Errorf(bulwark.Invalid, "sandbox.Spec",
			"allowed command %q is %s, a multi-call program%s: it runs as whichever program its argv[0] names, so allowing %q would allow all of them; "+
				"take %q off the allowlist (BULWARK_ALLOWED_COMMANDS), or allow %q itself to accept everything it can run",
			a, real, also, a, a, own)
	}
	return nil
}

// hostRealPath resolves an allowlist entry on the host, whose PATH
// folders the sandbox mirrors: a name as the sandbox looks it up, or an
// absolute path; "" when it is not there.
func hostRealPath(entry string) string {
	p := entry
	if !strings.Contains(entry, "/") {
		if p = lookPath(entry); p == "" {
			return ""
		}
	}
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	return r
}

// pathDirs are the sandbox's PATH folders.
func pathDirs() []string { return filepath.SplitList(initproc.SandboxPath) }

// multiCallVerdicts keeps multiCallProblem's answer for each allowlist
// while the exec plan stays the same: a sandbox's start does not resolve
// its whole allowlist on the host again.
var multiCallVerdicts struct {
	sync.Mutex
	plan *execPlan
	errs map[string]error
}

// checkMultiCall is multiCallProblem for allow with plan's aliases and
// the host's PATH (resolve, hostRealPath or the same answers),
// remembered for the plan.
func checkMultiCall(allow []string, plan *execPlan, resolve func(string) string) error {
	key := strings.Join(allow, "\x00")
	v := &multiCallVerdicts
	v.Lock()
	if v.plan != plan {
		v.plan, v.errs = plan, map[string]error{}
	}
	err, ok := v.errs[key]
	v.Unlock()
	if ok {
		return err
	}
	err = multiCallProblem(allow, plan.Aliases, resolve)
	v.Lock()
	if v.plan == plan && len(v.errs) < 64 {
		v.errs[key] = err
	}
	v.Unlock()
	return err
}
