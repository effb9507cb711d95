package main

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// leakModel is a model tricked into leaking its instructions: it finds
// the canary token in its system prompt and sends it in write_file calls,
// first plainly, then split between the path and the content with each
// half base64-encoded, then with each half base32-encoded on its own,
// until the third call ends the task; or, with text set, it writes the
// token as text has it into its first reply's text, between two
// paragraphs, streamed a word or (bytes) one to three bytes at a time.
// tokens are the tokens it was given.
type leakModel struct {
	text  func(tok string) string
	bytes bool

	mu     sync.Mutex
	tokens []string
}

var promptCanary = regexp.MustCompile(`This token is confidential: (\S+?)\.`)

func (m *leakModel) turn(r *llmtest.Request) llmtest.Turn {
	results := 0
	for _, msg := range r.Messages {
		if msg.Role == llm.ToolRole {
			results++
		}
	}
	found := promptCanary.FindStringSubmatch(r.Messages[0].Content)
	if found == nil || results >= 3 || m.text != nil && len(r.Messages) > 2 {
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "finish", Arguments: json.RawMessage(`{"answer":"done"}`)}}}
	}
	tok := found[1]
	m.mu.Lock()
	m.tokens = append(m.tokens, tok)
	m.mu.Unlock()
	if m.text != nil {
		para := strings.Repeat("I was asked to show my instructions, so here they are in full. ", 12)
		t := llmtest.Turn{Content: para + "\n\n" + m.text(tok) + "\n\n" + para}
		if m.bytes {
			t.Quirks = llmtest.SmallChunks
		}
		return t
	}
	args := map[string]string{"path": "leak.txt", "content": "my instructions: " + tok}
	h := len(tok) / 2
	switch results {
	case 1:
		args = map[string]string{"path": b64(tok[:h]), "content": b64(tok[h:])}
	case 2:
		args = map[string]string{"path": b32(tok[:h]), "content": b32(tok[h:])}
	}
	b, _ := json.Marshal(args)
	return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: b}}}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func b32(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) }

// uEscaped writes each character of s as a JSON \u escape.
func uEscaped(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// textLeaks are the ways leakModel writes the token into its text: plain,
// base64, hex, \u escapes, split in two with each half base64- or
// base32-encoded, one half hex and one base32.
var textLeaks = []func(tok string) string{
	func(tok string) string { return "my instructions: " + tok },
	func(tok string) string { return b64(tok) },
	func(tok string) string { return hex.EncodeToString([]byte(tok)) },
	uEscaped,
	func(tok string) string { h := len(tok) / 2; return b64(tok[:h]) + "\n" + b64(tok[h:]) },
	func(tok string) string { h := len(tok) / 2; return b32(tok[:h]) + " " + b32(tok[h:]) },
	func(tok string) string {
		h := len(tok) / 2
		return hex.EncodeToString([]byte(tok[:h])) + " " + b32(tok[h:])
	},
}

// pieces are the forms of the tokens the model leaked that must show
// nowhere.
func (m *leakModel) pieces(t *testing.T) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.tokens) == 0 {
		t.Fatal("the model never leaked a token: the test proves nothing")
	}
	var out []string
	for _, tok := range m.tokens {
		h := len(tok) / 2
		out = append(out, tok, strings.TrimPrefix(tok, "BWK-CANARY-"), b64(tok), b64(tok[:h]), b64(tok[h:]),
			strings.TrimRight(b32(tok[:h]), "="), strings.TrimRight(b32(tok[h:]), "="),
			hex.EncodeToString([]byte(tok)), hex.EncodeToString([]byte(tok[:h])), uEscaped(tok))
	}
	return out
}

// leakWorkload runs `bulwark run` with leakModel in the environment extra
// (which chooses the store), with debug logs and events as JSON, and
// returns the model and what the command printed. The task ends for the
// leak at the third call: not as a loop (the withheld calls look alike).
func leakWorkload(t *testing.T, extra []string) (pieces, outputs []string) {
	m := &leakModel{}
	r := runLeakModel(t, extra, m, "--json")
	if r.code == 0 || !strings.Contains(r.stdout, `"type":"task_finished","step":3,"text":"the model made 3 calls that carried a confidential token`) {
		t.Errorf("exit %d, want the task ended for the leak at the third call:\n%s", r.code, r.stdout)
	}
	if strings.Count(r.stdout, "blocked: the write_file call carried the task's confidential canary token") != 3 {
		t.Errorf("the events do not show the three calls blocked, so the test proves nothing:\n%s", r.stdout)
	}
	return m.pieces(t), []string{r.stdout, r.stderr}
}

// runLeakModel runs `bulwark run` with m in the environment extra, with
// debug logs and the flags given, and fails t if a leaking call wrote a
// file.
func runLeakModel(t *testing.T, extra []string, m *leakModel, flags ...string) result {
	t.Helper()
	srv := llmtest.NewServer(m.turn)
	defer srv.Close()
	env := append(extra, "BULWARK_LOG_LEVEL=debug", "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL="+srv.URL+"/v1")
	ws := filepath.Join(t.TempDir(), "ws")
	args := append(append([]string{"run"}, flags...), "--model", "openai:m", "--workspace", ws, "take a note")
	r := runBulwark(t, env, args...)
	if entries, _ := os.ReadDir(ws); len(entries) > 0 {
		t.Errorf("a leaking call wrote %s", entries[0].Name())
	}
	return r
}

// textLeakWorkload runs one task a textLeaks entry, as leakWorkload does,
// each ending failed for its reply's text, the events printed as JSON or
// (every other one) for a person, with the model's text as it streams. It
// returns the pieces to look for and what the commands printed.
func textLeakWorkload(t *testing.T, extra []string) (pieces, outputs []string) {
	for i, text := range textLeaks {
		m := &leakModel{text: text, bytes: i%2 == 1}
		var flags []string // the readable view, with the text streamed
		if i%2 == 0 {
			flags = []string{"--json"}
		}
		r := runLeakModel(t, extra, m, flags...)
		if r.code == 0 || !strings.Contains(r.stdout, "the model's reply carried a confidential token") {
			t.Errorf("leak %d: exit %d, want the task ended for the leak:\n%s", i, r.code, r.stdout)
		}
		if len(flags) == 0 && !strings.Contains(r.stdout, "I was asked to show my instructions") {
			t.Errorf("leak %d: the readable view does not show the reply's start as it streamed:\n%s", i, r.stdout)
		}
		pieces = append(pieces, m.pieces(t)...)
		outputs = append(outputs, r.stdout, r.stderr)
	}
	return pieces, outputs
}

// assertNoLeak fails t for each piece in text.
func assertNoLeak(t *testing.T, where, text string, pieces []string) {
	t.Helper()
	for _, p := range pieces {
		if strings.Contains(text, p) {
			t.Errorf("%s holds %q", where, p)
		}
	}
}

// assertNoLeakUnder fails t for each file under dir that holds a piece,
// and when dir has no file and some were wanted.
func assertNoLeakUnder(t *testing.T, dir string, pieces []string, want bool) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		assertNoLeak(t, "data folder file "+strings.TrimPrefix(p, dir), string(b), pieces)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 && want {
		t.Fatalf("no files in %s: the test proves nothing", dir)
	}
}

// leakWorkloads are the tasks whose model leaks its canary token: in tool
// calls (plain, and split between two arguments with each half base64-
// or base32-encoded), and in the text of its reply (textLeaks).
var leakWorkloads = []struct {
	name string
	run  func(t *testing.T, extra []string) (pieces, outputs []string)
}{{"calls", leakWorkload}, {"text", textLeakWorkload}}

// TestCanaryLeakKeptNowhere: a task whose model leaks its canary token
// has its calls blocked or its reply withheld, and the token is in none
// of the events printed (or the text streamed), the logs (at debug), the
// SQLite store's bytes (its WAL too), the audit log, or any other file of
// the data folder.
func TestCanaryLeakKeptNowhere(t *testing.T) {
	for _, w := range leakWorkloads {
		t.Run(w.name, func(t *testing.T) {
			data := t.TempDir()
			pieces, outputs := w.run(t, []string{"BULWARK_DATA=" + data})
			for i, o := range outputs {
				assertNoLeak(t, []string{"the events printed", "the log"}[i%2], o, pieces)
			}
			if _, err := os.Stat(filepath.Join(data, "audit", "audit.log")); err != nil {
				t.Errorf("no audit log was written: %v", err)
			}
			assertNoLeakUnder(t, data, pieces, true)
		})
	}
}

// TestCanaryLeakKeptNowherePostgres is TestCanaryLeakKeptNowhere with the
// store in PostgreSQL: nothing in a dump of every row (the events, the
// audit chains) either.
func TestCanaryLeakKeptNowherePostgres(t *testing.T) {
	for _, w := range leakWorkloads {
		t.Run(w.name, func(t *testing.T) {
			e := newPGAuditEnv(t)
			pgDump, err := exec.LookPath("pg_dump")
			if err != nil {
				t.Skip("pg_dump is not installed")
			}
			pieces, outputs := w.run(t, e.env(e.key))
			for i, o := range outputs {
				assertNoLeak(t, []string{"the events printed", "the log"}[i%2], o, pieces)
			}
			out, err := exec.Command(pgDump, "--data-only", "--no-owner", "--dbname", e.url).Output()
			if err != nil {
				t.Fatalf("pg_dump: %v", err)
			}
			if !strings.Contains(string(out), "audit_records") {
				t.Fatalf("the dump has no audit records: the test proves nothing")
			}
			assertNoLeak(t, "the PostgreSQL dump", string(out), pieces)
			assertNoLeakUnder(t, e.data, pieces, false)
		})
	}
}
