package main

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
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
// then finishes. tokens are the tokens it was given.
type leakModel struct {
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
	if found == nil || results >= 3 {
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "finish", Arguments: json.RawMessage(`{"answer":"done"}`)}}}
	}
	tok := found[1]
	m.mu.Lock()
	m.tokens = append(m.tokens, tok)
	m.mu.Unlock()
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
			strings.TrimRight(b32(tok[:h]), "="), strings.TrimRight(b32(tok[h:]), "="))
	}
	return out
}

// leakWorkload runs `bulwark run` with leakModel in the environment extra
// (which chooses the store), with debug logs and events as JSON, and
// returns the model and what the command printed.
func leakWorkload(t *testing.T, extra []string) (*leakModel, []string) {
	m := &leakModel{}
	srv := llmtest.NewServer(m.turn)
	defer srv.Close()
	env := append(extra, "BULWARK_LOG_LEVEL=debug", "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL="+srv.URL+"/v1")
	ws := filepath.Join(t.TempDir(), "ws")
	r := runBulwark(t, env, "run", "--json", "--model", "openai:m", "--workspace", ws, "take a note")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Count(r.stdout, "blocked: the write_file call carried the task's confidential canary token") != 3 {
		t.Errorf("the events do not show the three calls blocked, so the test proves nothing:\n%s", r.stdout)
	}
	if entries, _ := os.ReadDir(ws); len(entries) > 0 {
		t.Errorf("a leaking call wrote %s", entries[0].Name())
	}
	return m, []string{r.stdout, r.stderr}
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

// TestCanaryLeakKeptNowhere: a task whose model leaks its canary token in
// tool calls (plain, and split between two arguments with each half
// base64- or base32-encoded) has
// the calls blocked, and the token is in none of the events printed, the
// logs (at debug), the SQLite store's bytes (its WAL too), the audit log,
// or any other file of the data folder.
func TestCanaryLeakKeptNowhere(t *testing.T) {
	data := t.TempDir()
	m, outputs := leakWorkload(t, []string{"BULWARK_DATA=" + data})
	pieces := m.pieces(t)
	for i, o := range outputs {
		assertNoLeak(t, []string{"the events printed", "the log"}[i], o, pieces)
	}
	if _, err := os.Stat(filepath.Join(data, "audit", "audit.log")); err != nil {
		t.Errorf("no audit log was written: %v", err)
	}
	assertNoLeakUnder(t, data, pieces, true)
}

// TestCanaryLeakKeptNowherePostgres is TestCanaryLeakKeptNowhere with the
// store in PostgreSQL: nothing in a dump of every row (the events, the
// audit chains) either.
func TestCanaryLeakKeptNowherePostgres(t *testing.T) {
	e := newPGAuditEnv(t)
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Skip("pg_dump is not installed")
	}
	m, outputs := leakWorkload(t, e.env(e.key))
	pieces := m.pieces(t)
	for i, o := range outputs {
		assertNoLeak(t, []string{"the events printed", "the log"}[i], o, pieces)
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
}
