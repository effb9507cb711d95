package initproc

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// resolveReference is resolveAllowedIn as it was before folders were
// listed: probe each folder per name with stat, then resolve and stat
// the file found. The listing must find exactly what it found.
func resolveReference(dirs, names []string, readOnly []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if strings.Contains(n, "/") && !path.IsAbs(n) {
			return nil, fmt.Errorf("allowed command %q: want a name or an absolute path", n)
		}
		p := ""
		if strings.Contains(n, "/") {
			p = n
		} else {
			for _, d := range dirs {
				if st, err := os.Stat(path.Join(d, n)); err == nil && st.Mode().IsRegular() {
					p = path.Join(d, n)
					break
				}
			}
		}
		if p == "" {
			continue
		}
		real, err := realPath(p)
		if err != nil {
			continue
		}
		if !InSystemDirs(real) && !underAny(real, readOnly) {
			return nil, fmt.Errorf("allowed command %q is %s, outside the system folders and the read-only paths", n, real)
		}
		if st, err := os.Stat(real); err != nil || !st.Mode().IsRegular() || seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, real)
	}
	return out, nil
}

// The allowlist resolved from folder listings names the same files as
// probing every folder per name, over every kind of entry a PATH folder
// can hold: files, links to files, to folders, to nothing and in chains,
// folders, a FIFO, a folder that links to another one, one missing, and
// names in more than one folder.
func TestResolveAllowedMatchesProbing(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(p string) { // a regular file
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	usrBin, bin, local, sbin := root+"/usr/bin", root+"/bin", root+"/local/bin", root+"/sbin"
	for _, d := range []string{usrBin, local, sbin} {
		os.MkdirAll(d, 0o755)
	}
	os.Symlink("usr/bin", bin) // a merged /usr
	mk(usrBin + "/plain")
	mk(usrBin + "/both")
	mk(local + "/both") // found first in local
	mk(root + "/elsewhere/target")
	os.Symlink("../../elsewhere/target", usrBin+"/linked")
	os.Symlink("linked", usrBin+"/chain")
	os.Symlink("nowhere", local+"/broken") // broken here, a file later
	mk(sbin + "/broken")
	os.Symlink(root+"/elsewhere", usrBin+"/todir")
	os.MkdirAll(local+"/adir", 0o755) // a folder here, a file later
	mk(sbin + "/adir")
	if err := syscall.Mkfifo(usrBin+"/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	mk(sbin + "/onlysbin")
	os.Symlink("plain", usrBin+"/same") // a second name for one file
	dirs := []string{local, usrBin, bin, root + "/missing", sbin}
	names := []string{"plain", "both", "linked", "chain", "broken", "todir", "adir", "fifo",
		"onlysbin", "same", "absent", usrBin + "/plain", bin + "/linked", root + "/elsewhere", "[", ".", ".."}
	ro := []string{root}
	want, err := resolveReference(dirs, names, ro)
	if err != nil {
		t.Fatal(err)
	}
	// A few names are probed (findProbed), more are found in listings:
	// both find what the reference does, for the whole list and name by
	// name.
	var got []string
	for _, probed := range []int{0, len(names)} {
		defer func(old int) { maxProbed = old }(maxProbed)
		maxProbed = probed
		if got, err = resolveAllowedIn(dirs, names, false, ro); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("maxProbed %d: resolved:\n  %q\nby the reference:\n  %q", probed, got, want)
		}
		for _, n := range names {
			one, err := resolveAllowedIn(dirs, []string{n}, false, ro)
			ref, rerr := resolveReference(dirs, []string{n}, ro)
			if (err == nil) != (rerr == nil) || !slices.Equal(one, ref) {
				t.Errorf("maxProbed %d: %q resolved to %q (%v), the reference to %q (%v)", probed, n, one, err, ref, rerr)
			}
		}
	}
	// What the listing must have found, so that the comparison is not of
	// two empty answers.
	for _, p := range []string{usrBin + "/plain", local + "/both", root + "/elsewhere/target", sbin + "/broken", sbin + "/adir", sbin + "/onlysbin"} {
		if !slices.Contains(got, p) {
			t.Errorf("%s not resolved; got %q", p, got)
		}
	}
	// A file outside the system folders and the read-only paths is refused,
	// by both.
	if _, err := resolveAllowedIn(dirs, []string{"plain"}, false, nil); err == nil {
		t.Error("a program outside the system folders was allowed")
	}
	for _, abs := range []string{root + "/elsewhere", usrBin + "/fifo", usrBin + "/linked"} {
		_, err := resolveAllowedIn(dirs, []string{abs}, false, nil)
		_, werr := resolveReference(dirs, []string{abs}, nil)
		if err == nil || werr == nil {
			t.Errorf("%s, outside the system folders: listing %v, probing %v; want both refused", abs, err, werr)
		}
	}
	if _, err := resolveAllowedIn(dirs, []string{"rel/prog"}, false, ro); err == nil {
		t.Error("a relative path with a slash was accepted")
	}
}

// Every program the host's PATH folders hold resolves as probing found
// it: the real folders, with their links and alternatives.
func TestResolveAllowedMatchesProbingOnHost(t *testing.T) {
	var names []string
	for _, d := range strings.Split(SandboxPath, ":") {
		es, _ := os.ReadDir(d)
		for _, e := range es {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Skip("no PATH folder here")
	}
	dirs := strings.Split(SandboxPath, ":")
	want, werr := resolveReference(dirs, names, nil)
	defer func(old int) { maxProbed = old }(maxProbed)
	for _, probed := range []int{0, len(names)} {
		maxProbed = probed
		got, err := resolveAllowedIn(dirs, names, false, nil)
		if (err == nil) != (werr == nil) || !slices.Equal(got, want) {
			t.Fatalf("maxProbed %d: %d programs, %v; the reference: %d, %v", probed, len(got), err, len(want), werr)
		}
		if len(got) == 0 {
			t.Fatal("nothing resolved")
		}
	}
}

func BenchmarkResolveAllowed(b *testing.B) {
	names := []string{"python3", "node", "bash", "sh", "cat", "ls", "cp", "mv", "rm", "mkdir",
		"grep", "sed", "awk", "find", "tar", "gzip", "env", "sleep", "true", "false",
		"head", "tail", "wc", "sort", "uniq", "cut", "tr", "tee", "date", "xargs"}
	for b.Loop() {
		if _, err := resolveAllowed(names, false, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// handedCases are allowed programs as a host could hand them over
// (Config.Allowed), and whether the init takes them: only what its own
// resolution could have given, whatever the host sent.
var handedCases = []struct {
	paths    []string
	readOnly []string
	ok       bool
}{
	{[]string{"/usr/bin/python3.12", "/usr/bin/true"}, nil, true},
	{[]string{"/opt/tools/bin/lint"}, []string{"/opt/tools"}, true},
	{[]string{}, nil, true},
	{[]string{"/home/u/evil"}, nil, false},
	{[]string{"/workspace/run.sh"}, nil, false},
	{[]string{"/tmp/x"}, nil, false},
	{[]string{"/usr/bin/../../tmp/x"}, nil, false},
	{[]string{"usr/bin/true"}, nil, false},
	{[]string{"/usr"}, nil, false},
	{[]string{"/opt/toolsx/bin/lint"}, []string{"/opt/tools"}, false},
	{[]string{"/usr/bin/true", "/etc/passwd"}, nil, false},
}

func TestHandedAllowed(t *testing.T) {
	for _, c := range handedCases {
		got, err := handedAllowed(c.paths, c.readOnly)
		if (err == nil) != c.ok {
			t.Errorf("handedAllowed(%q, %q) = %q, %v; want accepted %v", c.paths, c.readOnly, got, err, c.ok)
		}
		if err == nil && !slices.Equal(got, c.paths) {
			t.Errorf("handedAllowed(%q, %q) = %q, want them as given", c.paths, c.readOnly, got)
		}
	}
}

// The host's resolution (ResolveAllowed) is the init's own.
func TestResolveAllowedForHost(t *testing.T) {
	names := []string{"true", "sh", "python3", "no-such-program-here", "/usr/bin/env"}
	got, err := ResolveAllowed(names, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := resolveAllowed(names, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ResolveAllowed(%q) = %q, want %q", names, got, want)
	}
	if _, err := handedAllowed(got, nil); err != nil {
		t.Errorf("the init refuses what the host resolved (%q): %v", got, err)
	}
}
