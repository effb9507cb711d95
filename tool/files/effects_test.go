package files

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// FuzzFileEffects: whatever path a model sends, the path a file tool
// declares is canonical (cleaning it again changes nothing), never leaves
// the workspace, and is the path the workspace acts on.
func FuzzFileEffects(f *testing.F) {
	for _, p := range []string{"x.env/.", "./src/main.py", "x/../src/main.py", "scratch/../main.py", "a//b", "../x", "/etc/passwd", "."} {
		f.Add(p)
	}
	w := WriteFile().(*spec)
	f.Fuzz(func(t *testing.T, p string) {
		args, _ := json.Marshal(map[string]string{"path": p, "content": ""})
		var sent struct{ Path string }
		json.Unmarshal(args, &sent)
		p = sent.Path // as JSON carries it: invalid UTF-8 replaced
		e, err := w.Effects(args)
		if err != nil {
			return
		}
		got := e.Writes[0]
		if again, err := CleanPath(got); err != nil || again != got {
			t.Errorf("path %q declared as %q, which cleans to %q, %v", p, got, again, err)
		}
		if got == ".." || strings.HasPrefix(got, "../") || strings.Contains(got, "/../") || strings.HasSuffix(got, "/..") {
			t.Errorf("path %q declared as %q, outside the workspace", p, got)
		}
		if p != "" && !strings.HasPrefix(p, "/") { // "" is "." for list_files; the schema refuses it elsewhere
			if want, err := CleanPath(p); err != nil || want != got {
				t.Errorf("path %q declared as %q, the workspace acts on %q", p, got, want)
			}
		}
	})
}

// TestIdempotentDeclared: the tools that only read declare their calls
// idempotent (a call a restart cut off runs again); those that change
// files do not (such a call is reported interrupted instead).
func TestIdempotentDeclared(t *testing.T) {
	args := json.RawMessage(`{"path":"a.txt"}`)
	want := map[string]bool{"read_file": true, "list_files": true, "search_files": true, "write_file": false, "edit_file": false, "delete_file": false}
	for _, tl := range []interface {
		Name() string
		Effects(json.RawMessage) (bulwark.Effects, error)
	}{ReadFile(), ListFiles(), SearchFiles(), WriteFile(), EditFile(), DeleteFile()} {
		e, err := tl.Effects(args)
		if err != nil {
			t.Fatalf("%s.Effects: %v", tl.Name(), err)
		}
		if e.Idempotent != want[tl.Name()] {
			t.Errorf("%s declares idempotent %v, want %v", tl.Name(), e.Idempotent, want[tl.Name()])
		}
	}
}
