package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hideCanary is the content of the files a Spec.Hide pattern covers: it
// must never come out of the sandbox.
const hideCanary = "canary-7c1e9b3a-HIDDEN"

// hideWorkspace makes a workspace with secrets/k, prod.env and conf/x.env
// (matched by the patterns of hidePatterns), notes.txt and docs/a.md (not
// matched), and symlinks to the hidden files made before the command.
func hideWorkspace(t *testing.T) string {
	t.Helper()
	ws := t.TempDir()
	for name, content := range map[string]string{
		"secrets/k": hideCanary, "secrets/sub/deep": hideCanary, "prod.env": hideCanary,
		"conf/x.env": hideCanary, "notes.txt": "notes", "docs/a.md": "doc",
	} {
		p := filepath.Join(ws, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"lk": "secrets/k", "le": "prod.env", "ldir": "secrets", "labs": "/workspace/conf/x.env"} {
		if err := os.Symlink(target, filepath.Join(ws, link)); err != nil {
			t.Fatal(err)
		}
	}
	// Hard links made before, under names no pattern names.
	for link, target := range map[string]string{"hk": "secrets/k", "docs/hdeep": "secrets/sub/deep"} {
		if err := os.Link(filepath.Join(ws, target), filepath.Join(ws, link)); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

var hidePatterns = []string{"secrets/*", "*.env"}

// hideAttack is a Python program that computes the hidden names (so that
// no parser could see them) and tries every way to their content. It
// prints LEAK for each that worked, and checks that the files not hidden
// stay readable and writable.
const hideAttack = `
import base64, os
s = 'sec' + 'rets'
k = s + '/' + chr(107)
env = base64.b64decode('cHJvZC5lbnY=').decode()   # prod.env
xenv = 'conf/' + 'x' + '.e' + 'nv'
CANARY = 'canary-7c1e9b3a-' + 'HIDDEN'

def leak(what, data):
    if CANARY in data:
        print('LEAK', what)

def tryread(p):
    try:
        with open(p) as f:
            leak('read ' + p, f.read())
    except OSError as e:
        print('refused read', p, e.errno)

for p in [k, env, xenv, s + '/sub/deep', 'lk', 'le', 'ldir/k', 'labs', '/workspace/' + k, './' + s + '/../' + k,
          '/proc/self/cwd/' + k, '/proc/self/root/workspace/' + env, 'hk', 'docs/hdeep']:
    tryread(p)
try:
    d = os.open(s, os.O_RDONLY | os.O_DIRECTORY)
    f = os.open('k', os.O_RDONLY, dir_fd=d)
    leak('openat in ' + s, os.read(f, 100).decode())
except OSError as e:
    print('refused openat', e.errno)
try:
    if os.listdir(s + '/sub'):
        print('LEAK listing', os.listdir(s + '/sub'))
except OSError as e:
    print('refused list', e.errno)
for p in [k, env, xenv]:
    try:
        with open(p, 'w') as f:
            f.write('overwritten')
        print('LEAK wrote', p)
    except OSError as e:
        print('refused write', p, e.errno)
    try:
        os.truncate(p, 0)
        print('LEAK truncated', p)
    except OSError as e:
        print('refused truncate', p, e.errno)
for p in [k, env, xenv, s]:
    try:
        (os.rmdir if p == s else os.remove)(p)
        print('LEAK removed', p)
    except OSError as e:
        print('refused remove', p, e.errno)
    try:
        os.rename(p, 'moved')
        print('LEAK renamed', p)
    except OSError as e:
        print('refused rename', p, e.errno)
for p in [k, env]:
    try:
        os.link(p, 'hard')
        with open('hard') as f:
            leak('hard link ' + p, f.read())
        os.remove('hard')
    except OSError as e:
        print('refused link', p, e.errno)
try:
    os.symlink(k, 'late')
    with open('late') as f:
        leak('late symlink', f.read())
    os.remove('late')
except OSError as e:
    print('refused late symlink', e.errno)
for root, dirs, files in os.walk('.'):
    for n in files:
        try:
            with open(os.path.join(root, n)) as f:
                leak('walk ' + os.path.join(root, n), f.read())
        except OSError:
            pass
with open('notes.txt') as f:
    assert f.read() == 'notes'
with open('docs/a.md', 'a') as f:
    f.write('+more')
with open('new.txt', 'w') as f:
    f.write('new')
with open(s + '/new.txt', 'w') as f:   # a folder pinned, not hidden
    f.write('new')
print('DONE')
`

// checkHidden checks the attack's report and that the hidden files are
// as they were on the host.
func checkHidden(t *testing.T, ws string, res *Result) {
	t.Helper()
	out := string(res.Stdout)
	if testing.Verbose() {
		t.Logf("report:\n%s\nstderr:\n%s", out, res.Stderr)
	}
	if strings.Contains(out, "LEAK") || strings.Contains(out+string(res.Stderr), hideCanary) || !strings.Contains(out, "DONE") {
		t.Fatalf("hidden files reached (exit %d):\nstdout:\n%s\nstderr:\n%s", res.ExitCode, out, res.Stderr)
	}
	for _, name := range []string{"secrets/k", "secrets/sub/deep", "prod.env", "conf/x.env"} {
		b, err := os.ReadFile(filepath.Join(ws, name))
		if err != nil || string(b) != hideCanary {
			t.Errorf("host's %s after the command: %q, %v; want it unchanged", name, b, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "secrets/new.txt")); string(b) != "new" {
		t.Errorf("secrets/new.txt = %q: a pinned folder must stay writable", b)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "docs/a.md")); string(b) != "doc+more" {
		t.Errorf("docs/a.md = %q: a file not hidden must stay writable", b)
	}
	// No cover reached the host's mount namespace.
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), ws) {
		t.Errorf("a mount under the workspace %s appeared on the host:\n%s", ws, mounts)
	}
}

// Under secrets/* and *.env, a Python program that computes the names
// cannot read, write, delete, rename or link the hidden files, through
// any path or symlink; the other files stay readable and writable.
func TestHideCold(t *testing.T) {
	requireSandbox(t)
	ws := hideWorkspace(t)
	res := py(t, Spec{Workspace: ws, Hide: hidePatterns}, hideAttack)
	checkHidden(t, ws, res)
}

// The same through a warm pool, whose init waits for the paths to hide
// with the command, twice: the second command sees what the first left.
func TestHidePool(t *testing.T) {
	requireSandbox(t)
	ws := hideWorkspace(t)
	p, err := NewPool(Spec{Workspace: ws, Hide: hidePatterns, AllowExec: []string{"python3", "bash"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 2 {
		res, err := p.Run(context.Background(), []string{"python3", "-"}, strings.NewReader(hideAttack))
		if err != nil {
			t.Fatal(err)
		}
		checkHidden(t, ws, res)
		if i == 0 {
			// A file the agent wrote under a hidden name since.
			os.WriteFile(filepath.Join(ws, "late.env"), []byte(hideCanary), 0o644)
			os.Remove(filepath.Join(ws, "new.txt"))
			os.Remove(filepath.Join(ws, "secrets/new.txt"))
			os.WriteFile(filepath.Join(ws, "docs/a.md"), []byte("doc"), 0o644)
		}
	}
	res, err := p.Run(context.Background(), []string{"python3", "-c", "print(open('late.env').read())"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Stdout), hideCanary) {
		t.Errorf("late.env, written between two commands, was read: %q", res.Stdout)
	}
}

// A workspace inside a shared mount (systemd makes every mount shared)
// gets a workspace mount that is a peer of the host's: no cover may
// propagate to the host's mount namespace.
func TestHideSharedMount(t *testing.T) {
	requireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a shared mount on the host")
	}
	ws := hideWorkspace(t)
	if err := unix.Mount(ws, ws, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(ws, unix.MNT_DETACH) })
	if err := unix.Mount("", ws, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	res := py(t, Spec{Workspace: ws, Hide: hidePatterns}, hideAttack)
	if strings.Contains(string(res.Stdout), "LEAK") || !strings.Contains(string(res.Stdout), "DONE") {
		t.Fatalf("hidden files reached:\n%s\n%s", res.Stdout, res.Stderr)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, ws) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d mounts at or under the workspace on the host, want 1 (the test's own):\n%s", n, mounts)
	}
}

// The host lists no symlink, but the agent may swap one in before the
// init covers the path: the init opens each path below /workspace
// without following a symlink, so a request naming a link (to a folder
// outside, or a folder through a link) fails the command, and nothing
// outside the workspace is covered. Paths that are not below the
// workspace are refused too.
func TestHideRefusesSymlinks(t *testing.T) {
	requireSandbox(t)
	ws := hideWorkspace(t)
	os.Symlink("/etc", filepath.Join(ws, "etc"))
	for _, paths := range [][]string{{"etc"}, {"etc/passwd"}, {"ldir/k"}, {"lk"}, {"../x"}, {"/etc/passwd"}, {"a/../../x"}} {
		b, err := start(Spec{Workspace: ws, Hide: hidePatterns, AllowExec: []string{"cat"}}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		req := runRequest{Argv: []string{"cat", "/etc/passwd", "secrets/k"}, Env: commandEnv(b.spec), Hide: paths}
		null, _ := os.Open(os.DevNull)
		err = send(b.ctrl, &req, int(null.Fd()), int(null.Fd()), int(null.Fd()))
		null.Close()
		if err != nil {
			t.Fatal(err)
		}
		var reply runReply
		if err := recvReply(b.ctrl, &reply); err != nil {
			t.Fatal(err)
		}
		b.cleanup()
		if reply.Started || reply.Err == "" {
			t.Errorf("Hide %q: the command started (%+v); want it refused", paths, reply)
		}
	}
	if b, err := os.ReadFile("/etc/passwd"); err != nil || len(b) == 0 {
		t.Errorf("/etc/passwd on the host: %d bytes, %v", len(b), err)
	}
}
