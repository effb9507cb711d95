package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/sandbox/internal/early"
)

// Landlock checks EXECUTE at execve, but not when the dynamic loader maps a
// program: "ld.so /usr/lib/git-core/git" runs git with only ld.so's own
// EXECUTE right, which every dynamic program needs. Only a noexec mount stops
// that mapping (mmap PROT_EXEC fails on it). So in the sandbox every system
// folder is mounted noexec, and executable mounts are laid over it for what
// must be mapped executable and nothing else:
//
//   - the library folders ("islands"): the loader's search path (the folders
//     of /etc/ld.so.conf and the architecture's defaults) and the native
//     module folders of python3 and node;
//   - in the generic folders that also hold programs' private folders
//     (/lib, /usr/lib, /usr/local/lib), only the library files found
//     directly in them, one by one;
//   - over the ELF programs found inside the islands, noexec binds again
//     ("masks": one per folder holding only programs, else per file);
//   - the allowed programs, each bound executable over itself.
//
// Finding the programs inside the islands reads the headers of thousands of
// files (tens of ms), so the plan is computed once, kept in memory and in a
// cache file, and used as long as none of the folders it read has changed
// (their mtimes, checked on every load from the file and in the background
// every few seconds in a long-lived process).

// execPlan is where, apart from the allowed programs, the sandbox has
// executable mounts.
type execPlan struct {
	Islands []string `json:"islands"` // folders bound executable
	Libs    []string `json:"libs"`    // library files bound executable one by one
	Masks   []string `json:"masks"`   // programs, or folders of programs, in the islands: noexec
	// Aliases maps the real path of each file that the PATH folders
	// reach by more than one name to all those names (multicall_linux.go).
	Aliases map[string][]string `json:"aliases,omitempty"`
	// Stamps are the mtimes (ns) of every folder and file the plan was made
	// from; any change makes the plan stale.
	Stamps map[string]int64 `json:"stamps,omitempty"`
}

const execPlanVersion = 4

// flatLibDirs hold, besides libraries, the private folders of programs
// (/usr/lib/git-core, /usr/lib/openssh): they are never islands.
var flatLibDirs = []string{"/lib", "/usr/lib", "/usr/local/lib"}

// moduleGlobs are the interpreters' native module folders.
var moduleGlobs = []string{
	"/usr/lib/python3*/lib-dynload", "/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages",
	"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
	"/usr/lib/node_modules", "/usr/local/lib/node_modules", "/usr/share/nodejs",
}

// multiarch is the Debian multiarch triple of this architecture.
func multiarch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64-linux-gnu"
	}
	return "x86_64-linux-gnu"
}

// loaderDirs returns the dynamic loader's search folders and the
// configuration files they came from.
func loaderDirs() (dirs, sources []string) {
	ma := multiarch()
	dirs = []string{"/lib/" + ma, "/usr/lib/" + ma, "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	seen := map[string]bool{}
	var read func(file string, depth int)
	read = func(file string, depth int) {
		if depth > 4 || seen[file] {
			return
		}
		seen[file] = true
		sources = append(sources, file)
		f, err := os.Open(file)
		if err != nil {
			return
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			line, _, _ := strings.Cut(s.Text(), "#")
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			if fields[0] == "include" {
				for _, pat := range fields[1:] {
					if !filepath.IsAbs(pat) {
						pat = filepath.Join(filepath.Dir(file), pat)
					}
					sources = append(sources, filepath.Dir(pat))
					matches, _ := filepath.Glob(pat)
					for _, m := range matches {
						read(m, depth+1)
					}
				}
				continue
			}
			for _, d := range fields {
				if filepath.IsAbs(d) {
					dirs = append(dirs, d)
				}
			}
		}
	}
	read("/etc/ld.so.conf", 0)
	return dirs, sources
}

// globRoot is the folder above a pattern's first wildcard.
func globRoot(pattern string) string {
	if i := strings.IndexAny(pattern, "*?["); i >= 0 {
		pattern = pattern[:i]
	}
	return filepath.Dir(pattern + "x")
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// makeExecPlan reads the host's folders and makes the plan.
func makeExecPlan() *execPlan {
	p := &execPlan{Stamps: map[string]int64{}}
	stamp := func(path string) { p.Stamps[path] = mtimeOf(path) }
	dirs, sources := loaderDirs()
	for _, s := range sources {
		stamp(s)
	}
	for _, g := range moduleGlobs {
		stamp(globRoot(g))
		m, _ := filepath.Glob(g)
		dirs = append(dirs, m...)
	}
	var flat, islands []string
	for _, d := range flatLibDirs {
		if r, err := filepath.EvalSymlinks(d); err == nil && !slices.Contains(flat, r) {
			flat = append(flat, r)
		}
	}
	for _, d := range dirs {
		r, err := filepath.EvalSymlinks(d)
		if err != nil || slices.Contains(flat, r) || !inSystemDirs(r) {
			continue
		}
		if st, err := os.Stat(r); err == nil && st.IsDir() {
			islands = append(islands, r)
		}
	}
	// Drop the islands inside other islands.
	slices.Sort(islands)
	islands = slices.Compact(islands)
	for _, d := range islands {
		if n := len(p.Islands); n > 0 && under(d, p.Islands[n-1]) {
			continue
		}
		p.Islands = append(p.Islands, d)
	}
	for _, d := range flat {
		stamp(d)
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			path := filepath.Join(d, e.Name())
			if e.Type().IsRegular() && !inIslands(path, p.Islands) && classifyELF(path) == elfLibrary {
				p.Libs = append(p.Libs, path)
			}
		}
	}
	for _, d := range p.Islands {
		masks, _ := scanIsland(d, p.Stamps)
		p.Masks = append(p.Masks, masks...)
	}
	p.Aliases = scanAliases(pathDirs(), stamp)
	return p
}

func inIslands(path string, islands []string) bool {
	for _, d := range islands {
		if under(path, d) {
			return true
		}
	}
	return false
}

// scanIsland returns the masks dir needs, its ELF programs (a folder at a
// time where a folder holds programs and no library), and whether it holds
// a library.
func scanIsland(dir string, stamps map[string]int64) (masks []string, libs bool) {
	if m := mtimeOf(dir); m >= 0 {
		stamps[dir] = m
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, false
	}
	var programs []string
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			sub, subLibs := scanIsland(path, stamps)
			if !subLibs && len(sub) == 1 && sub[0] == path {
				programs = append(programs, path)
				continue
			}
			libs = libs || subLibs
			masks = append(masks, sub...)
		case e.Type().IsRegular():
			switch classifyELF(path) {
			case elfProgram:
				programs = append(programs, path)
			case elfLibrary:
				libs = true
			}
		}
	}
	if !libs && len(masks) == 0 && len(programs) > 0 {
		return []string{dir}, false // the whole folder
	}
	return append(masks, programs...), libs
}

// fresh reports whether nothing the plan was made from has changed.
func (p *execPlan) fresh() bool {
	if p.Stamps == nil {
		return false // read without them: nothing proves it fresh
	}
	var c stampCheck
	for path, mtime := range p.Stamps {
		if !c.same(append(c.path[:0], path...), mtime) {
			return false
		}
	}
	return true
}

// Stamps' values besides mtimes: a path that is absent (its appearance
// changes the plan), and one whose mtime could not be read (which proves
// nothing: the plan is stale).
const (
	stampAbsent     = -1
	stampUnreadable = -2
)

// mtimeOf is path's stamp: its mtime (ns), symlinks followed, or
// stampAbsent, or stampUnreadable.
func mtimeOf(path string) int64 {
	var c stampCheck
	return c.mtime(append(c.path[:0], path...))
}

// stampCheck reads stamps again with nothing allocated: a check reads
// about a thousand of them (a folder each), on every start of a sandbox
// when the last check is older than recheckEvery.
type stampCheck struct {
	path [512]byte // the path and its NUL, when it fits
	stx  unix.Statx_t
}

// same reports whether path's stamp is still mtime; a stamp that cannot
// be read is never the same.
func (c *stampCheck) same(path []byte, mtime int64) bool {
	m := c.mtime(path)
	return m == mtime && m != stampUnreadable
}

// mtime returns the stamp of path. statx asks for the mtime alone (a
// fifth cheaper than stat here); where statx is refused (an old seccomp
// profile), stat.
func (c *stampCheck) mtime(path []byte) int64 {
	if slices.Contains(path, 0) {
		return stampUnreadable
	}
	path = append(path, 0)
	at := unix.AT_FDCWD
	_, _, errno := unix.Syscall6(unix.SYS_STATX, uintptr(at), uintptr(unsafe.Pointer(&path[0])),
		unix.AT_STATX_SYNC_AS_STAT, unix.STATX_MTIME, uintptr(unsafe.Pointer(&c.stx)), 0)
	switch errno {
	case 0:
		if c.stx.Mask&unix.STATX_MTIME == 0 {
			return stampUnreadable
		}
		return c.stx.Mtime.Sec*1e9 + int64(c.stx.Mtime.Nsec)
	case unix.ENOENT, unix.ENOTDIR, unix.ELOOP, unix.EACCES:
		// Not there, or not reachable: the plan's scan could not read
		// it either.
		return stampAbsent
	case unix.ENOSYS, unix.EPERM:
		var st unix.Stat_t
		if err := unix.Stat(string(path[:len(path)-1]), &st); err == nil {
			return st.Mtim.Nano()
		}
	}
	return stampUnreadable
}

var plans struct {
	sync.Mutex
	plan     *execPlan
	checked  time.Time
	checking bool
	// pending is the check of a plan that startExecPlan handed out
	// before checking it; callers wait for it.
	pending *planCheck
}

// planCheck is the outcome of a plan's check: the plan to use, closed done.
type planCheck struct {
	done chan struct{}
	plan *execPlan
}

// recheckEvery is how often a long-lived process checks that its plan is
// still fresh, in the background.
const recheckEvery = 5 * time.Second

// currentExecPlan returns the plan, from memory, else from the cache file
// if it is fresh, else made anew (and cached).
func currentExecPlan() *execPlan {
	_, final := startExecPlan()
	return final()
}

// startExecPlan is currentExecPlan for a sandbox's start: it returns a
// plan to start with and final, which returns the plan to configure the
// sandbox with, nothing of the first one used before then. They differ
// only when the cache file's plan, last checked longer than recheckEvery
// ago, turns out stale: its check (a stat of every folder it was made
// from, about a thousand, read and checked line by line) runs while the
// sandbox starts instead of before (a process such as each `bulwark
// sandbox exec` spent 3 to 10 ms on it).
func startExecPlan() (start *execPlan, final func() *execPlan) {
	return startExecPlanFrom(execPlanFile())
}

// startExecPlanFrom is startExecPlan with the cache file given.
func startExecPlanFrom(file string) (start *execPlan, final func() *execPlan) {
	plans.Lock()
	if c := plans.pending; c != nil {
		plans.Unlock()
		<-c.done
		return c.plan, func() *execPlan { return c.plan }
	}
	defer plans.Unlock()
	same := func(p *execPlan) func() *execPlan { return func() *execPlan { return p } }
	if p := plans.plan; p != nil {
		if !plans.checking && time.Since(plans.checked) > recheckEvery {
			plans.checking = true
			go func() {
				next := recheckExecPlan(p)
				plans.Lock()
				defer plans.Unlock()
				if next != nil {
					plans.plan = next
				}
				plans.checked, plans.checking = time.Now(), false
			}()
		}
		return p, same(p)
	}
	p, mtime := loadExecPlan(file, false)
	if p == nil {
		p = makeExecPlan()
		saveExecPlan(p)
		plans.plan, plans.checked = p, time.Now()
		return p, same(p)
	}
	if age := time.Since(mtime); age >= 0 && age < recheckEvery {
		plans.plan, plans.checked = p, mtime
		return p, same(p)
	}
	c := &planCheck{done: make(chan struct{})}
	plans.pending = c
	go func() {
		// The file read once more, with its stamps this time.
		var next *execPlan
		checked := time.Now()
		if q := loadFreshExecPlan(file); q != nil {
			touchExecPlan(file)
			next = q
		}
		if next == nil {
			next, checked = makeExecPlan(), time.Now()
			saveExecPlan(next)
		}
		plans.Lock()
		plans.plan, plans.checked, plans.pending = next, checked, nil
		plans.Unlock()
		c.plan = next
		close(c.done)
	}()
	return p, func() *execPlan {
		<-c.done
		if samePlan(p, c.plan) {
			return p
		}
		return c.plan
	}
}

// samePlan reports whether a and b make the same mounts and checks.
func samePlan(a, b *execPlan) bool {
	return slices.Equal(a.Islands, b.Islands) && slices.Equal(a.Libs, b.Libs) && slices.Equal(a.Masks, b.Masks) &&
		maps.EqualFunc(a.Aliases, b.Aliases, slices.Equal)
}

// cachedExecPlan returns the plan of the cache file and when it was last
// checked fresh, or nil when the file has none or a stale one. The file's
// mtime is when it was last written or checked: a plan checked less than
// recheckEvery ago is used as it is, the window a long-lived process
// allows itself too (and which a new process, such as each `bulwark sandbox
// exec`, would otherwise spend a stat of every folder the plan was made
// from on: about a thousand); an older one is checked, and the check
// recorded.
//
// A plan used within the window is read without its stamps (Stamps nil:
// the file up to them); recheckExecPlan reads them when it is due.
func cachedExecPlan(file string) (*execPlan, time.Time) {
	p, mtime := loadExecPlan(file, false)
	if p == nil {
		return nil, time.Time{}
	}
	if age := time.Since(mtime); age >= 0 && age < recheckEvery {
		return p, mtime
	}
	if p = loadFreshExecPlan(file); p == nil {
		return nil, time.Time{}
	}
	touchExecPlan(file)
	return p, time.Now()
}

// recheckExecPlan checks plan p again and returns the plan to use from now
// on, nil to keep p: p when it is still fresh, else a plan made anew.
func recheckExecPlan(p *execPlan) *execPlan {
	if p.Stamps == nil {
		// Read without its stamps (cachedExecPlan, loadFreshExecPlan):
		// check the file's plan, which may be another process's newer
		// one by now.
		file := execPlanFile()
		if q := loadFreshExecPlan(file); q != nil {
			touchExecPlan(file)
			return q
		}
	} else if p.fresh() {
		return nil
	}
	next := makeExecPlan()
	saveExecPlan(next)
	return next
}

// touchExecPlan records in the cache file's mtime that its plan was just
// checked fresh.
func touchExecPlan(file string) {
	now := time.Now()
	os.Chtimes(file, now, now)
}

// execPlanFile is the cache of the plan. The plan decides what the sandbox
// can execute, so only root may write it: it lives in /var/cache (the
// sandbox runs as root), never in a shared folder such as /tmp.
func execPlanFile() string {
	dir := early.RootCacheDir // where an early init finds the cached init too
	if os.Geteuid() != 0 {
		if d, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(d, "bulwark")
		}
	}
	// Named by its format: bulwark binaries of two formats side by side
	// (an upgrade) keep a file each instead of remaking each other's.
	return filepath.Join(dir, fmt.Sprintf("sandbox-exec-plan-v%d.json", execPlanVersion))
}

type execPlanCache struct {
	Version int       `json:"version"`
	Plan    *execPlan `json:"plan"`
}

// The cache file holds, one a line: the plan without its aliases and
// stamps (an execPlanCache, JSON), then an "a" line per alias group, then
// an "s" line per stamp, then "e". A process that trusts a recent check
// reads up to the first "s" line. Paths are quoted (strconv.Quote) and
// the lines are read by hand: encoding/json took 0.5 ms of a new process
// for the aliases and 1.5 ms for the stamps (about 1,150 on a Debian
// host), reading them by hand takes a tenth of that.
//
//	a "/usr/bin/mawk" "/usr/bin/awk" "/usr/bin/mawk" "/usr/bin/nawk"
//	s 1733300000000000000 "/usr/lib/x86_64-linux-gnu"
//	e
func encodeExecPlan(p *execPlan) ([]byte, error) {
	head := *p
	head.Aliases, head.Stamps = nil, nil
	b, err := json.Marshal(execPlanCache{Version: execPlanVersion, Plan: &head})
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	for _, real := range slices.Sorted(maps.Keys(p.Aliases)) {
		b = append(b, 'a', ' ')
		b = strconv.AppendQuote(b, real)
		for _, n := range p.Aliases[real] {
			b = append(b, ' ')
			b = strconv.AppendQuote(b, n)
		}
		b = append(b, '\n')
	}
	for _, path := range slices.Sorted(maps.Keys(p.Stamps)) {
		b = append(b, 's', ' ')
		b = strconv.AppendInt(b, p.Stamps[path], 10)
		b = append(b, ' ')
		b = strconv.AppendQuote(b, path)
		b = append(b, '\n')
	}
	return append(b, 'e', '\n'), nil
}

// quotedFields reads the space-separated quoted strings of s.
func quotedFields(s string) ([]string, bool) {
	var out []string
	for s != "" {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return nil, false
		}
		u, err := strconv.Unquote(q)
		if err != nil {
			return nil, false
		}
		out = append(out, u)
		s = s[len(q):]
		if s != "" {
			if s[0] != ' ' {
				return nil, false
			}
			s = s[1:]
		}
	}
	return out, true
}

// loadExecPlan reads the plan of the cache file, with its stamps when
// withStamps is set, and the file's mtime. A file that is not whole and
// well formed gives no plan.
func loadExecPlan(file string, withStamps bool) (*execPlan, time.Time) {
	if !withStamps {
		return readExecPlan(file, nil)
	}
	stamps := map[string]int64{}
	p, mtime := readExecPlan(file, func(path []byte, mtime int64) bool {
		stamps[string(path)] = mtime
		return true
	})
	if p != nil {
		p.Stamps = stamps
	}
	return p, mtime
}

// loadFreshExecPlan reads the plan of the cache file if it is fresh, its
// stamps checked as they are read (none kept: the plan has no Stamps),
// and nil otherwise. It is loadExecPlan(file, true) and fresh at a
// fraction of the cost: no map of a thousand paths built, nothing
// allocated per stamp, and a stale plan dropped at the first change.
func loadFreshExecPlan(file string) *execPlan {
	var c stampCheck
	p, _ := readExecPlan(file, func(path []byte, mtime int64) bool {
		return c.same(append(c.path[:0], path...), mtime)
	})
	return p
}

// readExecPlan reads the plan of the cache file, passing each stamp to
// stamp (its path valid for the call only), and the file's mtime; with
// stamp nil, it stops before the stamps. It gives no plan when the file
// is not whole and well formed, or when stamp returns false.
func readExecPlan(file string, stamp func(path []byte, mtime int64) bool) (*execPlan, time.Time) {
	f, st, ok := openRootsFile(file)
	if !ok {
		return nil, time.Time{}
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	line, err := r.ReadBytes('\n')
	var c execPlanCache
	if err != nil || json.Unmarshal(line, &c) != nil || c.Version != execPlanVersion || c.Plan == nil {
		return nil, time.Time{}
	}
	p := c.Plan
	p.Aliases, p.Stamps = map[string][]string{}, nil
	for {
		b, err := r.ReadSlice('\n')
		if err != nil || len(b) < 2 {
			return nil, time.Time{} // cut short
		}
		b = b[:len(b)-1]
		switch {
		case len(b) == 1 && b[0] == 'e':
			if stamp == nil && len(p.Aliases) == 0 {
				p.Aliases = nil
			}
			return p, time.Unix(0, st.Mtim.Nano())
		case bytes.HasPrefix(b, []byte("a ")):
			names, ok := quotedFields(string(b[2:]))
			if !ok || len(names) < 2 {
				return nil, time.Time{}
			}
			p.Aliases[names[0]] = names[1:]
		case bytes.HasPrefix(b, []byte("s ")):
			if stamp == nil {
				if len(p.Aliases) == 0 {
					p.Aliases = nil
				}
				return p, time.Unix(0, st.Mtim.Nano())
			}
			mtime, path, ok := stampLine(b[2:])
			if !ok || !stamp(path, mtime) {
				return nil, time.Time{}
			}
		default:
			return nil, time.Time{}
		}
	}
}

// stampLine reads a stamp line after its "s ": the mtime, a space and
// the quoted path. A path quoted without escapes (all but odd ones) is
// read in place.
func stampLine(b []byte) (mtime int64, path []byte, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return 0, nil, false
	}
	n, q := b[:i], b[i+1:]
	neg := len(n) > 0 && n[0] == '-'
	if neg {
		n = n[1:]
	}
	if len(n) == 0 || len(n) > 19 {
		return 0, nil, false
	}
	for _, d := range n {
		if d < '0' || d > '9' {
			return 0, nil, false
		}
		mtime = mtime*10 + int64(d-'0')
	}
	if mtime < 0 { // overflowed
		return 0, nil, false
	}
	if neg {
		mtime = -mtime
	}
	if len(q) >= 2 && q[0] == '"' && q[len(q)-1] == '"' {
		if in := q[1 : len(q)-1]; !bytes.ContainsAny(in, "\\\"") && utf8.Valid(in) {
			return mtime, in, true
		}
	}
	paths, ok := quotedFields(string(q))
	if !ok || len(paths) != 1 {
		return 0, nil, false
	}
	return mtime, []byte(paths[0]), true
}

// openRootsFile opens file for reading if nobody but root could have put
// it there or written it: the file and its folder are root's, neither is
// writable by group or others, and neither is a symlink. The folder is
// opened first and the file looked up in it, so neither can be swapped
// between the check and the read.
func openRootsFile(file string) (*os.File, unix.Stat_t, bool) { return early.OpenRootsFile(file) }

func saveExecPlan(p *execPlan) {
	if os.Geteuid() != 0 {
		return
	}
	file := execPlanFile()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return
	}
	b, err := encodeExecPlan(p)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".exec-plan-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), file) != nil {
		os.Remove(tmp.Name())
	}
}
