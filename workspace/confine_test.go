package workspace

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

const secret = "SECRET sentinel outside the workspace\n"

// jail is a workspace next to a folder outside it that holds a sentinel
// file, with links and special files inside the workspace that try to reach
// out.
type jail struct {
	ws      *Workspace
	base    string // holds "ws" and "outside"
	outside string // the folder outside
	sentry  string // the sentinel file outside
}

// newJail builds the escape fixtures:
//
//	link-file      -> /abs/outside/secret.txt
//	link-dir       -> /abs/outside
//	c1 -> c2 -> c3 -> /abs/outside/secret.txt
//	sub/up         -> ../../outside/secret.txt
//	sub/updir      -> ../..
//	proc-root      -> /proc/self/root
//	in-link        -> inside.txt (inside, still refused)
//	hard           hard link to the sentinel
//	fifo           a named pipe
//	dev            a character device (/dev/null's numbers), where creatable
func newJail(t testing.TB) *jail {
	base := t.TempDir()
	j := &jail{base: base, outside: filepath.Join(base, "outside")}
	j.sentry = filepath.Join(j.outside, "secret.txt")
	must(t, os.Mkdir(j.outside, 0o700))
	must(t, os.WriteFile(j.sentry, []byte(secret), 0o600))
	ws, err := Open(filepath.Join(base, "ws"))
	must(t, err)
	t.Cleanup(func() { ws.Close() })
	j.ws = ws
	in := func(name string) string { return filepath.Join(ws.Path(), name) }
	must(t, os.WriteFile(in("inside.txt"), []byte("inside\n"), 0o600))
	must(t, os.Mkdir(in("sub"), 0o700))
	must(t, os.Symlink(j.sentry, in("link-file")))
	must(t, os.Symlink(j.outside, in("link-dir")))
	must(t, os.Symlink("c2", in("c1")))
	must(t, os.Symlink("c3", in("c2")))
	must(t, os.Symlink(j.sentry, in("c3")))
	must(t, os.Symlink("../../outside/secret.txt", in("sub/up")))
	must(t, os.Symlink("../..", in("sub/updir")))
	must(t, os.Symlink("/proc/self/root", in("proc-root")))
	must(t, os.Symlink("inside.txt", in("in-link")))
	must(t, os.Link(j.sentry, in("hard")))
	if err := syscall.Mkfifo(in("fifo"), 0o600); err != nil {
		t.Logf("no FIFO: %v", err)
	}
	if err := syscall.Mknod(in("dev"), syscall.S_IFCHR|0o600, int(1<<8|3)); err != nil {
		t.Logf("no device node (needs CAP_MKNOD): %v", err)
	}
	return j
}

// check fails the test if anything outside the workspace changed: the
// sentinel's content and link count, the outside folder's listing, the base
// folder's listing.
func (j *jail) check(t testing.TB, after string) {
	t.Helper()
	data, err := os.ReadFile(j.sentry)
	if err != nil || string(data) != secret {
		t.Fatalf("after %s: sentinel = %q, %v; want it unchanged", after, data, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(j.sentry, &st); err != nil || st.Nlink != 2 {
		t.Fatalf("after %s: sentinel has %d links, %v; want 2 (itself and the hard link inside)", after, st.Nlink, err)
	}
	for dir, want := range map[string][]string{j.outside: {"secret.txt"}, j.base: {"outside", "ws"}} {
		if got := names(t, dir); !slices.Equal(got, want) {
			t.Fatalf("after %s: %s holds %q, want %q", after, dir, got, want)
		}
	}
}

func names(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// escapeTests are paths that must be refused for reading, writing and
// deleting alike, with the kind each refusal has.
var escapeTests = []struct {
	path string
	kind bulwark.Kind
}{
	{"../outside/secret.txt", bulwark.Invalid},
	{"a/../../outside/secret.txt", bulwark.Invalid},
	{"sub/../../outside/secret.txt", bulwark.Invalid},
	{"..", bulwark.Invalid},
	{"~/secret.txt", bulwark.Invalid},
	{`..\outside\secret.txt`, bulwark.Invalid},
	{"inside.txt\x00", bulwark.Invalid},
	{strings.Repeat("x", 300), bulwark.Invalid},
	{strings.Repeat("../", 2000) + "etc/passwd", bulwark.Invalid},
	{"link-file", bulwark.PermissionDenied},
	{"link-dir/secret.txt", bulwark.PermissionDenied},
	{"link-dir/new.txt", bulwark.PermissionDenied},
	{"c1", bulwark.PermissionDenied},
	{"sub/up", bulwark.PermissionDenied},
	{"sub/updir/outside/secret.txt", bulwark.PermissionDenied},
	{"sub/updir/outside/new.txt", bulwark.PermissionDenied},
	{"proc-root/etc/passwd", bulwark.PermissionDenied},
	{"in-link", bulwark.PermissionDenied},
	{"hard", bulwark.PermissionDenied},
	{"fifo", bulwark.PermissionDenied},
	{"dev", bulwark.PermissionDenied},
	{"sub", bulwark.Invalid},
	{".", bulwark.Invalid},
}

func TestConfinement(t *testing.T) {
	j := newJail(t)
	// Absolute paths are only tried on the sentinel: were they ever
	// accepted, a write to /etc/passwd would hurt the test machine.
	abs := []string{j.sentry, "/proc/self/root" + j.sentry, "//" + j.sentry}
	tests := slices.Clone(escapeTests)
	for _, p := range abs {
		tests = append(tests, struct {
			path string
			kind bulwark.Kind
		}{p, bulwark.Invalid})
	}
	for _, tt := range tests {
		if _, err := os.Lstat(filepath.Join(j.ws.Path(), tt.path)); tt.path == "fifo" || tt.path == "dev" {
			if err != nil {
				continue // not creatable here
			}
		}
		data, err := j.ws.ReadFile(tt.path)
		wantRefused(t, j, "ReadFile", tt.path, err, tt.kind)
		if bytes.Contains(data, []byte("SECRET")) {
			t.Errorf("ReadFile(%q) read the sentinel", tt.path)
		}
		j.check(t, "ReadFile("+tt.path+")")

		err = j.ws.WriteFile(tt.path, []byte("overwritten"))
		wantRefused(t, j, "WriteFile", tt.path, err, tt.kind)
		j.check(t, "WriteFile("+tt.path+")")

		err = j.ws.Remove(tt.path)
		wantRefused(t, j, "Remove", tt.path, err, tt.kind)
		j.check(t, "Remove("+tt.path+")")
	}
	// System paths, read-only operations.
	for _, p := range []string{"/etc/passwd", "/proc/self/root/etc/passwd", "/proc/self/environ", "../../../../../../etc/passwd"} {
		data, err := j.ws.ReadFile(p)
		wantRefused(t, j, "ReadFile", p, err, bulwark.Invalid)
		if len(data) > 0 {
			t.Errorf("ReadFile(%q) = %q, want nothing", p, data)
		}
		if _, err := j.ws.Stat(p); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("Stat(%q) = %v, want an error of kind Invalid", p, err)
		}
		if _, err := j.ws.ReadDir(p); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("ReadDir(%q) = %v, want an error of kind Invalid", p, err)
		}
	}
}

func wantRefused(t *testing.T, j *jail, op, path string, err error, kind bulwark.Kind) {
	t.Helper()
	if err == nil {
		t.Errorf("%s(%q) succeeded, want an error of kind %v", op, path, kind)
		return
	}
	if got := bulwark.ErrorKind(err); got != kind {
		t.Errorf("%s(%q) = %v (kind %v), want kind %v", op, path, err, got, kind)
	}
	msg := bulwark.ErrorMessage(err)
	if strings.Contains(msg, j.ws.Path()) || strings.Contains(msg, j.base) && !strings.Contains(path, j.base) {
		t.Errorf("%s(%q) error %q shows the host path of the workspace", op, path, msg)
	}
}

// TestFolderLinksNotFollowed checks that listing and walking do not go
// through links to folders outside.
func TestFolderLinksNotFollowed(t *testing.T) {
	j := newJail(t)
	for _, p := range []string{"link-dir", "sub/updir", "sub/updir/outside", "proc-root", "proc-root/etc"} {
		if infos, err := j.ws.ReadDir(p); err == nil {
			t.Errorf("ReadDir(%q) = %d entries, want an error", p, len(infos))
		}
		if err := j.ws.Walk(p, func(name string, info fs.FileInfo) error {
			if info.IsDir() || name != p {
				t.Errorf("Walk(%q) visited %q (dir %v), want only the link itself", p, name, info.IsDir())
			}
			return nil
		}); err != nil && bulwark.ErrorKind(err) != bulwark.PermissionDenied {
			t.Errorf("Walk(%q) = %v", p, err)
		}
	}
	var seen []string
	must(t, j.ws.Walk(".", func(name string, info fs.FileInfo) error {
		seen = append(seen, name)
		return nil
	}))
	for _, name := range seen {
		if strings.Contains(name, "secret") || strings.Contains(name, "outside") {
			t.Errorf("Walk(\".\") visited %q, outside the workspace", name)
		}
	}
	j.check(t, "walking")
}

// FuzzWorkspacePath tries every operation with arbitrary paths and checks
// that nothing outside the workspace was created, read or changed.
func FuzzWorkspacePath(f *testing.F) {
	for _, tt := range escapeTests {
		f.Add(tt.path)
	}
	for _, tt := range cleanTests {
		f.Add(tt.in)
	}
	f.Add("new/dir/file.txt")
	f.Add("/proc/self/root/tmp/x")
	j := newJail(f)
	f.Fuzz(func(t *testing.T, name string) {
		ws := j.ws
		if data, err := ws.ReadFile(name); err == nil && bytes.Contains(data, []byte("SECRET")) {
			t.Fatalf("ReadFile(%q) read the sentinel", name)
		}
		ws.Stat(name)
		ws.ReadDir(name)
		ws.Walk(name, func(p string, info fs.FileInfo) error {
			if info.Mode().IsRegular() {
				if data, err := ws.ReadFile(p); err == nil && bytes.Contains(data, []byte("SECRET")) {
					t.Fatalf("Walk(%q) reached the sentinel at %q", name, p)
				}
			}
			return nil
		})
		ws.WriteFile(name, []byte("fuzz"))
		ws.WriteFile(name+"/x", []byte("fuzz"))
		ws.Remove(name)
		j.check(t, "fuzzing "+name)
	})
}
