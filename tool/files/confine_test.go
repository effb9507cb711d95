package files

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

const secret = "SECRET sentinel outside the workspace\n"

// escapeEnv builds a workspace next to a sentinel file outside it, with
// links and special files inside that point out, and returns the tools,
// their Env, and a check that fails the test if anything outside changed.
func escapeEnv(t *testing.T) (*tool.Registry, *tool.Env, func(after string)) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	sentry := filepath.Join(outside, "secret.txt")
	mustDo(t, os.Mkdir(outside, 0o700))
	mustDo(t, os.WriteFile(sentry, []byte(secret), 0o600))
	ws, err := workspace.Open(filepath.Join(base, "ws"))
	mustDo(t, err)
	t.Cleanup(func() { ws.Close() })
	in := func(name string) string { return filepath.Join(ws.Path(), name) }
	mustDo(t, os.Mkdir(in("sub"), 0o700))
	mustDo(t, os.Symlink(sentry, in("link-file")))
	mustDo(t, os.Symlink(outside, in("link-dir")))
	mustDo(t, os.Symlink("c2", in("c1")))
	mustDo(t, os.Symlink(sentry, in("c2")))
	mustDo(t, os.Symlink("../../outside/secret.txt", in("sub/up")))
	mustDo(t, os.Symlink("../..", in("sub/updir")))
	mustDo(t, os.Symlink("/proc/self/root", in("proc-root")))
	mustDo(t, os.Link(sentry, in("hard")))
	if err := syscall.Mkfifo(in("fifo"), 0o600); err != nil {
		t.Logf("no FIFO: %v", err)
	}
	if err := syscall.Mknod(in("dev"), syscall.S_IFCHR|0o600, 1<<8|3); err != nil {
		t.Logf("no device node (needs CAP_MKNOD): %v", err)
	}
	check := func(after string) {
		t.Helper()
		data, err := os.ReadFile(sentry)
		if err != nil || string(data) != secret {
			t.Fatalf("after %s: sentinel = %q, %v; want it unchanged", after, data, err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(sentry, &st); err != nil || st.Nlink != 2 {
			t.Fatalf("after %s: sentinel has %d links, %v; want 2", after, st.Nlink, err)
		}
		for dir, want := range map[string][]string{outside: {"secret.txt"}, base: {"outside", "ws"}} {
			entries, _ := os.ReadDir(dir)
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			if !slices.Equal(got, want) {
				t.Fatalf("after %s: %s holds %q, want %q", after, dir, got, want)
			}
		}
	}
	return tool.NewRegistry(Tools()...), &tool.Env{Workspace: ws}, check
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// escapePaths must be refused by every file tool.
var escapePaths = []string{
	"../outside/secret.txt",
	"a/../../outside/secret.txt",
	"/etc/passwd",
	"/proc/self/root/etc/passwd",
	"~/secret.txt",
	`C:\secret.txt`,
	"link-file",
	"link-dir/secret.txt",
	"c1",
	"sub/up",
	"sub/updir/outside/secret.txt",
	"proc-root/etc/passwd",
	"hard",
	"fifo",
	"dev",
	"a\x00b",
	strings.Repeat("n", 300),
}

func TestToolsConfined(t *testing.T) {
	reg, env, check := escapeEnv(t)
	for _, p := range escapePaths {
		if p == "fifo" || p == "dev" {
			if _, err := os.Lstat(filepath.Join(env.Workspace.Path(), p)); err != nil {
				continue
			}
		}
		q, _ := json.Marshal(p)
		for _, c := range []struct{ name, args string }{
			{"read_file", `{"path":` + string(q) + `}`},
			{"edit_file", `{"path":` + string(q) + `,"old":"SECRET","new":"pwned"}`},
			{"delete_file", `{"path":` + string(q) + `}`},
			{"write_file", `{"path":` + string(q) + `,"content":"pwned"}`},
		} {
			if strings.HasPrefix(p, "/") && c.name != "read_file" {
				// Absolute host paths are refused before any access; were
				// they not, a write here would hurt the test machine.
				continue
			}
			res, err := call(reg, env, c.name, c.args)
			if err == nil {
				t.Errorf("%s(%q) = %q, want it refused", c.name, p, res.Output)
			}
			if k := bulwark.ErrorKind(err); k != bulwark.Invalid && k != bulwark.PermissionDenied {
				t.Errorf("%s(%q): %v (kind %v), want kind Invalid or PermissionDenied", c.name, p, err, k)
			}
			if strings.Contains(res.Output+bulwark.ErrorMessage(err), "SECRET") {
				t.Errorf("%s(%q) showed the sentinel", c.name, p)
			}
			check(c.name + "(" + p + ")")
		}
	}
	for _, p := range []string{"link-dir", "sub/updir", "proc-root", "../outside", "/"} {
		q, _ := json.Marshal(p)
		for name, args := range map[string]string{
			"list_files":   `{"path":` + string(q) + `}`,
			"search_files": `{"path":` + string(q) + `,"pattern":"sentinel"}`,
		} {
			res, _ := call(reg, env, name, args)
			if strings.Contains(res.Output, "secret.txt") || strings.Contains(res.Output, "sentinel outside") {
				t.Errorf("%s(%s) = %q, reached outside the workspace", name, args, res.Output)
			}
		}
	}
	res, err := call(reg, env, "search_files", `{"pattern":"sentinel"}`)
	want := `no line matches "sentinel" in the 0 files searched under "."; skipped 1 file (binary, too big or unreadable)`
	if err != nil || res.Output != want {
		t.Errorf("search_files(sentinel) over the workspace = %q, %v; want %q", res.Output, err, want)
	}
	check("listing and searching")
}

// list_files names what it was given when that is no folder: a link as a
// link (it said "a file (1 byte)" of a link to /, a red team), a special
// file as one.
func TestListFilesNamesWhatIsNoFolder(t *testing.T) {
	reg, env, _ := escapeEnv(t)
	for path, want := range map[string]string{
		"link-dir":  `"link-dir" is a symbolic link, not a folder; the file tools do not follow links`,
		"proc-root": `"proc-root" is a symbolic link, not a folder`,
		"fifo":      `"fifo" is a special file, not a folder`,
		"hard":      `"hard" is a file (`,
	} {
		if _, err := os.Lstat(filepath.Join(env.Workspace.Path(), path)); err != nil {
			continue
		}
		_, err := call(reg, env, "list_files", `{"path":"`+path+`"}`)
		if msg := bulwark.ErrorMessage(err); !strings.Contains(msg, want) {
			t.Errorf("list_files(%s) = %q, want %q", path, msg, want)
		}
	}
}
