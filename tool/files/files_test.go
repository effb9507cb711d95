package files

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// fixture is the workspace content the tool tests start from.
var fixture = map[string]string{
	"a.txt":           "one\ntwo\nthree\n",
	"bin.dat":         "ab\x00cd",
	"dup.txt":         "x = 1\ny\nx = 1\n",
	"crlf.txt":        "one\r\ntwo\r\n",
	"dir/sub/c.go":    "package c\n\nfunc Hello() {}\n",
	"dir/d.txt":       "no newline at end",
	"empty.txt":       "",
	".git/config":     "func Hello in git\n",
	"long.txt":        strings.Repeat("abcdefghij", 500) + "needle\n",
	"many/f000.txt":   "",
	"numbers/big.txt": bigFile(2500),
}

func bigFile(lines int) string {
	var b strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// newEnv returns a registry of the file tools and an Env whose workspace
// holds the fixture.
func newEnv(t *testing.T) (*tool.Registry, *tool.Env) {
	t.Helper()
	ws, err := workspace.Open(filepath.Join(t.TempDir(), "ws"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	for name, content := range fixture {
		if err := ws.WriteFile(name, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	return tool.NewRegistry(Tools()...), &tool.Env{Workspace: ws}
}

func call(reg *tool.Registry, env *tool.Env, name, args string) (tool.Result, error) {
	return reg.Call(context.Background(), env, name, json.RawMessage(args))
}

// toolTests run each against a fresh fixture. want is a part of the output
// (or, with kind set, of the error message).
var toolTests = []struct {
	name, args string
	kind       bulwark.Kind // Other: success wanted
	want       []string
}{
	// read_file
	{"read_file", `{"path":"a.txt"}`, 0, []string{"     1\tone\n     2\ttwo\n     3\tthree"}},
	{"read_file", `{"path":"dir/d.txt"}`, 0, []string{"     1\tno newline at end"}},
	{"read_file", `{"path":"a.txt","offset":2,"limit":1}`, 0, []string{"     2\ttwo\n[lines 2-2 of 3 shown; to read on, call read_file with offset 3]"}},
	{"read_file", `{"path":"a.txt","offset":3}`, 0, []string{"     3\tthree\n[lines 3-3 of 3 shown: the end of the file]"}},
	{"read_file", `{"path":"numbers/big.txt"}`, 0, []string{"  2000\tline 2000\n[lines 1-2000 of 2500 shown; to read on, call read_file with offset 2001]"}},
	{"read_file", `{"path":"long.txt"}`, 0, []string{"... [line cut: 5006 bytes in all]"}},
	{"read_file", `{"path":"empty.txt"}`, 0, []string{`"empty.txt" is empty (0 lines)`}},
	{"read_file", `{"path":"a.txt","offset":4}`, bulwark.Invalid, []string{`offset 4 is past the end: "a.txt" has 3 lines`}},
	{"read_file", `{"path":"bin.dat"}`, bulwark.Invalid, []string{`"bin.dat" looks like a binary file (it contains NUL bytes); read_file works on text files only`}},
	{"read_file", `{"path":"nope.txt"}`, bulwark.NotFound, []string{`"nope.txt" does not exist in the workspace; use list_files to see which files exist`}},
	{"read_file", `{"path":"dir"}`, bulwark.Invalid, []string{`"dir" is a folder, not a file`}},
	{"read_file", `{"path":"a.txt","offset":"2"}`, bulwark.Invalid, []string{`invalid arguments for read_file: field "offset": want an integer, got a string (write the number without quotes)`}},
	{"read_file", `{"path":"a.txt","limit":0}`, bulwark.Invalid, []string{`field "limit": want at least 1, got 0`}},
	{"read_file", `{"pth":"a.txt"}`, bulwark.Invalid, []string{`unknown field "pth"; the fields are: path, limit, offset (did you mean "path"?)`}},
	{"read_file", `{}`, bulwark.Invalid, []string{`missing required field "path"`}},
	{"read_file", `{"path":"../a.txt"}`, bulwark.Invalid, []string{`path "../a.txt" leaves the workspace; use a path inside it, such as "a.txt"`}},
	// write_file
	{"write_file", `{"path":"new/n.txt","content":"hi\nthere"}`, 0, []string{`created "new/n.txt" (8 bytes, 2 lines)`}},
	{"write_file", `{"path":"./a.txt","content":""}`, 0, []string{`replaced "a.txt" (0 bytes, 0 lines)`}},
	{"write_file", `{"path":"dir","content":"x"}`, bulwark.Invalid, []string{`"dir" is a folder, not a file`}},
	{"write_file", `{"path":"a.txt/x","content":"x"}`, bulwark.Invalid, []string{`path "a.txt/x" goes through "a.txt", which is a file, not a folder`}},
	{"write_file", `{"path":"a.txt"}`, bulwark.Invalid, []string{`missing required field "content"`}},
	{"write_file", `{"path":"a.txt","content":["x"]}`, bulwark.Invalid, []string{`field "content": want a string, got an array`}},
	{"write_file", `{"path":"/tmp/x","content":"x"}`, bulwark.Invalid, []string{`path "/tmp/x" is absolute; use a path relative to the workspace, such as "tmp/x"`}},
	// edit_file
	{"edit_file", `{"path":"a.txt","old":"two\n","new":"2\n2b\n"}`, 0, []string{`replaced the snippet at line 2 of "a.txt" (1 line out, 2 lines in; the file has 4 lines now)`}},
	{"edit_file", `{"path":"a.txt","old":"four","new":"4"}`, bulwark.Invalid, []string{`the text in old does not occur in "a.txt"; read the file again`}},
	{"edit_file", `{"path":"a.txt","old":"     2\ttwo","new":"2"}`, bulwark.Invalid, []string{`leave them out`}},
	{"edit_file", `{"path":"crlf.txt","old":"one\ntwo","new":"x"}`, bulwark.Invalid, []string{`Windows line endings`}},
	{"edit_file", `{"path":"dup.txt","old":"x = 1","new":"x = 2"}`, bulwark.Invalid, []string{`the text in old occurs 2 times in "dup.txt" (at lines 1, 3); include more of the surrounding lines in old so that it occurs exactly once`}},
	{"edit_file", `{"path":"a.txt","old":"one","new":"one"}`, bulwark.Invalid, []string{`old and new are the same text`}},
	{"edit_file", `{"path":"a.txt","old":"","new":"x"}`, bulwark.Invalid, []string{`field "old": must not be empty`}},
	{"edit_file", `{"path":"bin.dat","old":"ab","new":"x"}`, bulwark.Invalid, []string{`edit_file works on text files only`}},
	{"edit_file", `{"path":"nope.txt","old":"a","new":"b"}`, bulwark.NotFound, []string{`use write_file to create a new file`}},
	{"edit_file", `{"path":"a.txt","old":"one","new":"x","replace_all":true}`, bulwark.Invalid, []string{`unknown field "replace_all"; the fields are: path, old, new`}},
	// list_files
	{"list_files", `{}`, 0, []string{"folder \".\" holds 10 entries:\n.git/\na.txt  (14 bytes)\n", "\nbin.dat  (5 bytes)\n", "\ndir/\n", "\nempty.txt  (0 bytes)\n"}},
	{"list_files", `{"path":"dir"}`, 0, []string{"folder \"dir\" holds 2 entries:\ndir/d.txt  (17 bytes)\ndir/sub/"}},
	{"list_files", `{"path":"many"}`, 0, []string{"many/f000.txt  (0 bytes)"}},
	{"list_files", `{"path":"a.txt"}`, bulwark.Invalid, []string{`"a.txt" is a file (14 bytes), not a folder; use read_file to read it`}},
	{"list_files", `{"path":"nope"}`, bulwark.NotFound, []string{`"nope" does not exist in the workspace`}},
	{"list_files", `{"path":7}`, bulwark.Invalid, []string{`field "path": want a string, got the number 7`}},
	// delete_file
	{"delete_file", `{"path":"a.txt"}`, 0, []string{`deleted "a.txt"`}},
	{"delete_file", `{"path":"dir"}`, bulwark.Invalid, []string{`"dir" is a folder; delete_file deletes single files only`}},
	{"delete_file", `{"path":"nope.txt"}`, bulwark.NotFound, []string{`"nope.txt" does not exist in the workspace; use list_files`}},
	{"delete_file", `{"path":"a.txt","recursive":true}`, bulwark.Invalid, []string{`unknown field "recursive"; the fields are: path`}},
	// search_files
	{"search_files", `{"pattern":"Hello"}`, 0, []string{"dir/sub/c.go:3: func Hello() {}\n[1 match in 1 file; searched 9 files; skipped 1 file (binary, too big or unreadable)]"}},
	{"search_files", `{"pattern":"(?i)ONE","path":"."}`, 0, []string{"a.txt:1: one\n", "crlf.txt:1: one\n", "[2 matches in 2 files;"}},
	{"search_files", `{"pattern":"Hello","path":".git"}`, 0, []string{".git/config:1: func Hello in git"}},
	{"search_files", `{"pattern":"needle"}`, 0, []string{"long.txt:1: ...", "needle"}},
	{"search_files", `{"pattern":"^line \\d+0{3}$","path":"numbers"}`, 0, []string{"numbers/big.txt:1000: line 1000\nnumbers/big.txt:2000: line 2000\n"}},
	{"search_files", `{"pattern":"line","path":"numbers/big.txt"}`, 0, []string{"numbers/big.txt:100: line 100\n[stopped after 100 matches in 1 file; there may be more: narrow the pattern or the path]"}},
	{"search_files", `{"pattern":"zzz"}`, 0, []string{`no line matches "zzz" in the 9 files searched under "."`}},
	{"search_files", `{"pattern":"func("}`, bulwark.Invalid, []string{`pattern "func(" is not a valid RE2 regular expression (missing closing ): ` + "`func(`" + `); to match one of`}},
	{"search_files", `{"pattern":"(?<=a)b"}`, bulwark.Invalid, []string{`is not a valid RE2 regular expression`}},
	{"search_files", `{"pattern":"x","path":"nope"}`, bulwark.NotFound, []string{`"nope" does not exist in the workspace`}},
	{"search_files", `{"path":"."}`, bulwark.Invalid, []string{`missing required field "pattern"`}},
	{"search_files", `{"pattern":"x"} {"pattern":"y"}`, bulwark.Invalid, []string{`data after the JSON object`}},
	// no such tool
	{"read", `{"path":"a.txt"}`, bulwark.Invalid, []string{`there is no tool "read"; the tools are: read_file, write_file, edit_file, list_files, delete_file, search_files`}},
}

func TestTools(t *testing.T) {
	for _, tt := range toolTests {
		reg, env := newEnv(t)
		res, err := call(reg, env, tt.name, tt.args)
		got := res.Output
		if tt.kind != bulwark.Other {
			if err == nil {
				t.Errorf("%s(%s) = %q, want an error of kind %v", tt.name, tt.args, got, tt.kind)
				continue
			}
			if k := bulwark.ErrorKind(err); k != tt.kind {
				t.Errorf("%s(%s): kind %v (%v), want %v", tt.name, tt.args, k, err, tt.kind)
			}
			got = bulwark.ErrorMessage(err)
		} else if err != nil {
			t.Errorf("%s(%s) = error %q, want success", tt.name, tt.args, bulwark.ErrorMessage(err))
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(got, want) {
				t.Errorf("%s(%s) = %q, want it to contain %q", tt.name, tt.args, got, want)
			}
		}
	}
}

// TestToolEffects checks what the tools did to the files.
func TestToolEffects(t *testing.T) {
	reg, env := newEnv(t)
	ws := env.Workspace
	steps := []struct{ name, args, file, want string }{
		{"write_file", `{"path":"x/y.txt","content":"héllo\n"}`, "x/y.txt", "héllo\n"},
		{"edit_file", `{"path":"x/y.txt","old":"héllo","new":"bye"}`, "x/y.txt", "bye\n"},
		{"edit_file", `{"path":"dup.txt","old":"y\nx = 1","new":"y\nx = 3"}`, "dup.txt", "x = 1\ny\nx = 3\n"},
		{"edit_file", `{"path":"a.txt","old":"two\n","new":""}`, "a.txt", "one\nthree\n"},
		{"delete_file", `{"path":"x/y.txt"}`, "x/y.txt", ""},
	}
	for _, s := range steps {
		if _, err := call(reg, env, s.name, s.args); err != nil {
			t.Fatalf("%s(%s) = %v", s.name, s.args, err)
		}
		data, err := ws.ReadFile(s.file)
		if s.want == "" {
			if bulwark.ErrorKind(err) != bulwark.NotFound {
				t.Errorf("after %s(%s): ReadFile(%q) = %q, %v, want it gone", s.name, s.args, s.file, data, err)
			}
			continue
		}
		if string(data) != s.want {
			t.Errorf("after %s(%s): ReadFile(%q) = %q, %v, want %q", s.name, s.args, s.file, data, err, s.want)
		}
	}
	if _, err := ws.Stat("x"); err != nil {
		t.Errorf("delete_file removed the folder too: %v", err)
	}
}

func TestListCap(t *testing.T) {
	reg, env := newEnv(t)
	for i := range maxListEntries + 5 {
		if err := os.WriteFile(filepath.Join(env.Workspace.Path(), "many", fmt.Sprintf("g%04d", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res, err := call(reg, env, "list_files", `{"path":"many"}`)
	want := "[6 more entries not shown; list a subfolder, or use search_files]"
	if err != nil || !strings.HasSuffix(res.Output, want) {
		t.Errorf("list_files of %d entries = %q, %v; want it to end in %q", maxListEntries+6, res.Output[max(0, len(res.Output)-200):], err, want)
	}
}

func TestNoWorkspace(t *testing.T) {
	reg := tool.NewRegistry(Tools()...)
	for name, args := range map[string]string{
		"read_file":    `{"path":"a"}`,
		"write_file":   `{"path":"a","content":""}`,
		"edit_file":    `{"path":"a","old":"a","new":"b"}`,
		"list_files":   `{}`,
		"delete_file":  `{"path":"a"}`,
		"search_files": `{"pattern":"a"}`,
	} {
		for _, env := range []*tool.Env{nil, {}} {
			_, err := reg.Call(context.Background(), env, name, json.RawMessage(args))
			want := "this task has no workspace, so " + name + " cannot be used"
			if k, msg := bulwark.ErrorKind(err), bulwark.ErrorMessage(err); k != bulwark.Unavailable || msg != want {
				t.Errorf("%s(%s) without a workspace = %q (kind %v), want %q (kind %v)", name, args, msg, k, want, bulwark.Unavailable)
			}
		}
	}
}

func TestSpecs(t *testing.T) {
	reg := tool.NewRegistry(Tools()...)
	for _, spec := range reg.Specs() {
		var schema map[string]any
		if err := json.Unmarshal(spec.Parameters, &schema); err != nil {
			t.Errorf("schema of %s is not JSON: %v", spec.Name, err)
		}
		if schema["type"] != "object" || schema["additionalProperties"] != false {
			t.Errorf("schema of %s = %s, want a closed object", spec.Name, spec.Parameters)
		}
		if len(spec.Description) < 40 {
			t.Errorf("description of %s = %q, want one a model can act on", spec.Name, spec.Description)
		}
	}
}
