package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// makeTree creates the files of names (a trailing / for a folder, "a ->
// b" for a symlink) under a new folder.
func makeTree(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if link, target, ok := strings.Cut(n, " -> "); ok {
			if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(n, "/") {
			continue
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var hiddenPathsTests = []struct {
	patterns            []string
	wantHidden, wantPin []string
}{
	// The top-most matches: secrets/sub, not secrets/sub/deep; the
	// folder secrets pinned (renamed, secrets/k would not match any
	// more); conf not (conf/x.env matches *.env under any folder name).
	{[]string{"secrets/*", "*.env"}, []string{"conf/x.env", "prod.env", "secrets/k", "secrets/sub"}, []string{"secrets"}},
	{[]string{"secrets/k"}, []string{"secrets/k"}, []string{"secrets"}},
	{[]string{"secrets"}, []string{"secrets"}, nil},
	{[]string{"a/b/*.pem"}, []string{"a/b/c.pem"}, []string{"a", "a/b"}},
	// */secrets/* matches x/secrets/k under any name of x.
	{[]string{"*/secrets/*"}, []string{"x/secrets/k"}, []string{"x/secrets"}},
	{[]string{"nothing*"}, nil, nil},
	{nil, nil, nil},
}

// hiddenPaths returns the top-most matches and the folders they depend
// on, and never a symlink (link.env, a link to notes.txt, is not hidden;
// lk, a link to secrets/k, is not either: its target is).
func TestHiddenPaths(t *testing.T) {
	ws := makeTree(t, "secrets/k", "secrets/sub/deep", "prod.env", "conf/x.env", "notes.txt", "docs/a.md",
		"a/b/c.pem", "a/d.pem", "x/secrets/k", "link.env -> notes.txt", "lk -> secrets/k", "ldir -> secrets")
	for _, tt := range hiddenPathsTests {
		hidden, pinned, err := hiddenPaths(ws, tt.patterns, DefaultWorkspaceFiles)
		if err != nil {
			t.Fatalf("hiddenPaths(%q): %v", tt.patterns, err)
		}
		slices.Sort(hidden)
		slices.Sort(pinned)
		if !slices.Equal(hidden, tt.wantHidden) || !slices.Equal(pinned, tt.wantPin) {
			t.Errorf("hiddenPaths(%q) = %q, pinned %q; want %q, pinned %q", tt.patterns, hidden, pinned, tt.wantHidden, tt.wantPin)
		}
	}
}

// The walk goes only where a pattern could match: under secrets/* a
// large folder elsewhere costs nothing, under *.env it counts against
// the bound, past which the command is refused.
func TestHiddenPathsBounded(t *testing.T) {
	var names []string
	for i := range 50 {
		names = append(names, "node_modules/m"+strconv.Itoa(i))
	}
	ws := makeTree(t, append(names, "secrets/k")...)
	if _, _, err := hiddenPaths(ws, []string{"secrets/*"}, 10); err != nil {
		t.Errorf("secrets/* with a bound of 10 entries: %v; want node_modules left alone", err)
	}
	if _, _, err := hiddenPaths(ws, []string{"*.env"}, 10); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("*.env with a bound of 10 entries: %v; want the command refused", err)
	}
	deep := t.TempDir()
	p := deep
	for range maxHideDepth + 2 {
		p = filepath.Join(p, "d")
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := hiddenPaths(deep, []string{"*.env"}, DefaultWorkspaceFiles); err == nil || !strings.Contains(bulwark.ErrorMessage(err), "deeper") {
		t.Errorf("a workspace %d folders deep: %v; want refused", maxHideDepth+2, err)
	}
}

// More paths to hide than the init may cover: the command is refused.
func TestHiddenPathsTooMany(t *testing.T) {
	var names []string
	for i := range initproc.MaxHidden + 1 {
		names = append(names, strconv.Itoa(i)+".env")
	}
	ws := makeTree(t, names...)
	if _, _, err := hiddenPaths(ws, []string{"*.env"}, DefaultWorkspaceFiles); err == nil || !strings.Contains(bulwark.ErrorMessage(err), "hide more") {
		t.Errorf("%d files to hide: %v; want refused", initproc.MaxHidden+1, err)
	}
}

// A folder the host cannot list (a command took its modes away, for a
// host that is not root) is hidden whole where a pattern could match
// below it.
func TestHiddenPathsUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root lists every folder")
	}
	ws := makeTree(t, "locked/x.env", "docs/a.md")
	os.Chmod(filepath.Join(ws, "locked"), 0)
	t.Cleanup(func() { os.Chmod(filepath.Join(ws, "locked"), 0o755) })
	hidden, _, err := hiddenPaths(ws, []string{"*.env"}, DefaultWorkspaceFiles)
	if err != nil || !slices.Equal(hidden, []string{"locked"}) {
		t.Errorf("hiddenPaths with locked/ unreadable = %q, %v; want [locked]", hidden, err)
	}
}

// A name that is not UTF-8 is hidden like any other: the control
// messages carry names as bytes. (They were JSON once, which would have
// turned such a name into another, leaving the file uncovered.)
func TestHiddenPathsNotUTF8(t *testing.T) {
	ws := makeTree(t, "a\xff.env", "notes.txt")
	hidden, _, err := hiddenPaths(ws, []string{"*.env"}, DefaultWorkspaceFiles)
	if err != nil || !slices.Equal(hidden, []string{"a\xff.env"}) {
		t.Fatalf("hiddenPaths = %q, %v; want [a\\xff.env]", hidden, err)
	}
	requireSandbox(t)
	if err := os.WriteFile(filepath.Join(ws, "a\xff.env"), []byte(hideCanary), 0o644); err != nil {
		t.Fatal(err)
	}
	const readEnv = `
import os
for n in os.listdir(b'.'):
    if n.endswith(b'.env'):
        try:
            print(open(n, 'rb').read())
        except OSError as e:
            print('refused', n, e.errno)
`
	// The program reads the file when nothing is hidden...
	if res := py(t, Spec{Workspace: ws}, readEnv); !strings.Contains(string(res.Stdout), hideCanary) {
		t.Fatalf("without Hide the program did not read the file: %q %q", res.Stdout, res.Stderr)
	}
	// ...and finds it covered under *.env.
	if res := py(t, Spec{Workspace: ws, Hide: []string{"*.env"}}, readEnv); strings.Contains(string(res.Stdout), hideCanary) {
		t.Errorf("a file whose name is not UTF-8 was not hidden: %q %q", res.Stdout, res.Stderr)
	}
}

// A hidden file's other hard links, made before (a command cannot link
// a covered file), are hidden too: x and docs/y are secrets/k, z is
// secrets/sub/deep inside a hidden folder.
func TestHiddenPathsHardLinks(t *testing.T) {
	ws := makeTree(t, "secrets/k", "secrets/sub/deep", "docs/a.md", "notes.txt")
	for link, target := range map[string]string{"x": "secrets/k", "docs/y": "secrets/k", "z": "secrets/sub/deep"} {
		if err := os.Link(filepath.Join(ws, target), filepath.Join(ws, link)); err != nil {
			t.Fatal(err)
		}
	}
	hidden, pinned, err := hiddenPaths(ws, []string{"secrets/*"}, DefaultWorkspaceFiles)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(hidden)
	if want := []string{"docs/y", "secrets/k", "secrets/sub", "x", "z"}; !slices.Equal(hidden, want) || !slices.Equal(pinned, []string{"secrets"}) {
		t.Errorf("hiddenPaths with hard links = %q, pinned %q; want %q, pinned [secrets]", hidden, pinned, want)
	}
}
