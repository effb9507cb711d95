package files

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/workspace"
)

// FuzzFlatStrings: what flatStrings takes, json.Unmarshal into a struct
// of the same fields reads to the same values.
func FuzzFlatStrings(f *testing.F) {
	for _, s := range []string{
		`{"path":"step-3.txt","content":"xxxx"}`, ` { "path" : "b" } `, `{}`, ` {} `, `{"path":"x","path":"y"}`,
		`{"PATH":"x"}`, `{"Path":"x","path":"y"}`, `{"paths":"x"}`, `{"other":"x","path":"y"}`, `{"ſ":"x"}`,
		`{"path":"é"}`, "{\"path\":\"\xff\"}", `{"path":1}`, `{"path":"x",}`, `{"path":"x"}x`, `{"path":"x"} {}`,
		`{"path":"x"`, `["a"]`, `"a"`, ``, `{"path" "x"}`, `{"":""}`, "{\"path\":\"\t\"}", `{"content":null}`,
		`{"content":"a","path":"b","x":"1","y":"2","z":"3","w":"4","v":"5","u":"6","t":"7"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v [2]string
		if !flatStrings(data, v[:], "path", "content") {
			return
		}
		var want struct {
			Path    string `json:"path"`
			Content string `json:"content"`
		}
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("flatStrings(%q) took what json.Unmarshal refuses: %v", data, err)
		}
		if v[0] != want.Path || v[1] != want.Content {
			t.Fatalf("flatStrings(%q) = %q, %q; json.Unmarshal %q, %q", data, v[0], v[1], want.Path, want.Content)
		}
	})
}

// hostileArgs are write_file arguments that a fast path could read
// otherwise than encoding/json: repeated keys, keys differing in case or
// by Unicode folding (the Kelvin sign folds to k, the long s to s),
// escapes, invalid UTF-8, lone surrogates, NUL, nested and other values,
// a byte order mark, data after the object, every kind of white space.
var hostileArgs = []string{
	`{"path":"ok.txt","path":"secret.env","content":"x"}`,
	`{"path":"ok.txt","PATH":"secret.env","content":"x"}`,
	`{"PATH":"secret.env","path":"ok.txt","content":"x"}`,
	`{"path":"ok.txt","Path":"secret.env","content":"x"}`,
	`{"path":"ok.txt","pat\u0068":"secret.env","content":"x"}`,
	`{"pat\u0068":"secret.env","path":"ok.txt","content":"x"}`,
	`{"path":"ok.txt","content":"x","\u0070ath":"secret.env"}`,
	`{"path":"ok.txt","content":"x","CONTENT":"y"}`,
	`{"path":"ok.txt","content":"x","conten\u0074":"y"}`,
	"{\"path\":\"ok.txt\",\"content\":\"x\",\"pat\u212a\":\"secret.env\"}",
	"{\"path\":\"ok.txt\",\"content\":\"x\",\"\u017fecret\":\"y\"}",
	"{\"path\":\"ok.txt\",\"conten\u0074\":\"x\",\"pa\u017fh\":\"y\"}",
	`{"path":"secret\u002eenv","content":"x"}`,
	`{"path":"secret.env\u0000.txt","content":"x"}`,
	"{\"path\":\"secret.env\x00.txt\",\"content\":\"x\"}",
	"{\"path\":\"sec\xffret.env\",\"content\":\"x\"}",
	"{\"pa\xffth\":\"secret.env\",\"path\":\"ok.txt\",\"content\":\"x\"}",
	`{"path":"a\ud800.env","content":"x"}`,
	`{"path":"a\udc00\ud800.env","content":"x"}`,
	"{\"path\":\"a\xed\xa0\x80.env\",\"content\":\"x\"}",
	`{"path":"ok.txt","content":{"path":"secret.env"}}`,
	`{"path":["secret.env"],"content":"x"}`,
	`{"path":"ok.txt","content":1}`,
	`{"path":null,"content":"x"}`,
	`{"path":true,"content":"x"}`,
	"\ufeff{\"path\":\"ok.txt\",\"content\":\"x\"}",
	`{"path":"ok.txt","content":"x"}{"path":"secret.env"}`,
	`{"path":"ok.txt","content":"x"} {"path":"secret.env"}`,
	`{"path":"ok.txt","content":"x"}` + "\x00",
	" \t\r\n{ \t\r\n\"path\" \t\r\n: \t\r\n\"ok.txt\" \t\r\n, \"content\":\"x\" \t\r\n} \t\r\n",
	"\v{\"path\":\"ok.txt\",\"content\":\"x\"}",
	"{\"path\":\"ok.txt\",\"content\":\"x\"}\f",
	"{\"path\":\"ok.txt\"\u00a0,\"content\":\"x\"}",
	`{"path":"ok.txt","content":"x",}`,
	`{"path":"ok.txt" "content":"x"}`,
	`{"path":"ok.txt","content":"` + strings.Repeat("x", 1<<20) + `"}`,
	`{"path":"` + strings.Repeat("d/", 3000) + `ok.txt","content":"x"}`,
	`{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","path":"secret.env","content":"x"}`,
	// Past flatjson.MaxPairs keys, and a repeated path after them.
	`{"path":"ok.txt","content":"x",` + strings.Repeat(`"k":"v",`, 20) + `"path":"secret.env"}`,
	`{"path":"ok.txt","content":"x",` + strings.Repeat(`"p":"v",`, 14) + `"PATH":"secret.env"}`,
	`{"path":"ok.txt","content":"x",` + strings.Repeat(`"p":"v",`, 14) + `"path":"secret.env"}`,
	// Keys that are near "path": padded, quoted, a prefix, escaped quote.
	`{"path ":"secret.env","path":"ok.txt","content":"x"}`,
	`{" path":"secret.env","path":"ok.txt","content":"x"}`,
	`{"pat\"h":"secret.env","path":"ok.txt","content":"x"}`,
	`{"pat":"secret.env","path":"ok.txt","content":"x"}`,
	`{"path\u0000":"secret.env","path":"ok.txt","content":"x"}`,
	"{\"path\x00\":\"secret.env\",\"path\":\"ok.txt\",\"content\":\"x\"}",
	// Values: noncharacters, C1 and DEL, U+2028, an escaped slash, a number
	// too large, deep nesting in the content.
	"{\"path\":\"a\uffff\ufffe\u0085\x7f\u2028.txt\",\"content\":\"x\"}",
	`{"path":"a\/..\/secret.env","content":"x"}`,
	`{"path":"ok.txt","content":1e999}`,
	`{"path":"ok.txt","content":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
	`{"path":"ok.txt","content":"x"` + strings.Repeat(" ", 1<<16) + `}`,
}

// The arguments of a write_file call are read one way by all that reads
// them: the schema check, the path the policy judges (Effects) and the
// file the tool writes. For each hostile spelling that the schema lets
// through and Effects names, the tool writes that file and no other.
func TestWriteFileArgsReadOneWay(t *testing.T) {
	wrote := map[string]int{}
	for _, args := range hostileArgs {
		wrote[checkArgsReadOneWay(t, []byte(args))]++
	}
	// Not all refused: the check ran to the file written for spacing, a
	// long content, escapes and invalid UTF-8 (read as U+FFFD by all).
	if wrote["ok.txt"] < 3 || wrote["secret.env"] < 2 || wrote["a\ufffd.env"] < 1 {
		t.Errorf("files written: %v; want ok.txt 3 times or more, secret.env (escaped) twice or more, a\ufffd.env", wrote)
	}
}

// FuzzWriteFileArgsReadOneWay is TestWriteFileArgsReadOneWay for any
// arguments.
func FuzzWriteFileArgsReadOneWay(f *testing.F) {
	for _, args := range hostileArgs {
		if len(args) < 4096 {
			f.Add([]byte(args))
		}
	}
	f.Fuzz(func(t *testing.T, args []byte) { checkArgsReadOneWay(t, args) })
}

// checkArgsReadOneWay returns the file the call wrote, "" when the
// schema, Effects or the tool refused it.
func checkArgsReadOneWay(t *testing.T, args []byte) (written string) {
	t.Helper()
	w := WriteFile().(*spec)
	var want struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}
	uerr := json.Unmarshal(args, &want)
	var v1 [1]string
	if flatStrings(args, v1[:], "path") && (uerr != nil || v1[0] != want.Path) {
		t.Fatalf("%q: flatStrings(path) = %q, json.Unmarshal %q, %v", args, v1[0], want.Path, uerr)
	}
	var v2 [2]string
	if flatStrings(args, v2[:], "path", "content") && (uerr != nil || v2[0] != want.Path || v2[1] != want.Content) {
		t.Fatalf("%q: flatStrings(path, content) = %q, json.Unmarshal %q, %v", args, v2, want, uerr)
	}
	if w.Schema().Validate(args) != nil {
		return ""
	}
	if uerr != nil {
		t.Fatalf("%q: the schema took what json.Unmarshal refuses: %v", args, uerr)
	}
	e, err := w.Effects(args)
	if err != nil {
		return ""
	}
	dir := t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, err := writeFile(context.Background(), ws, args); err != nil {
		return ""
	}
	var made []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			made = append(made, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(made) != 1 || made[0] != e.Writes[0] {
		t.Fatalf("%q: the policy judged a write of %q, the tool wrote %q", args, e.Writes[0], made)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, made[0])); string(b) != want.Content {
		t.Fatalf("%q: the tool wrote %q, json.Unmarshal reads the content %q", args, b, want.Content)
	}
	return made[0]
}
