package replay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

const script = `{"content": "I'll write the file.", "tool_calls": [{"name": "write_file", "arguments": {"path": "hello.txt", "content": "hi"}}]}

# a comment
{"tool_calls": [{"id": "mine", "name": "read_file", "arguments": {"path": "hello.txt"}}, {"name": "list_files"}]}
{"content": "Done, ünïcode and all."}
`

func writeScript(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "script.jsonl")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlay(t *testing.T) {
	path := writeScript(t, script)
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "replay:"+path || m.Len() != 3 {
		t.Errorf("Name, Len = %q, %d; want replay:%s, 3", m.Name(), m.Len(), path)
	}
	want := []struct {
		text  string
		calls string
	}{
		{"I'll write the file.", `call_1_1 write_file {"path": "hello.txt", "content": "hi"}`},
		{"", `mine read_file {"path": "hello.txt"}|call_2_2 list_files {}`},
		{"Done, ünïcode and all.", ""},
	}
	for i, w := range want {
		var streamed strings.Builder
		resp, err := m.Stream(t.Context(), llm.Request{}, func(s string) { streamed.WriteString(s) })
		if err != nil {
			t.Fatalf("turn %d: %v", i+1, err)
		}
		var calls []string
		for _, c := range resp.Message.ToolCalls {
			calls = append(calls, c.ID+" "+c.Name+" "+string(c.Arguments))
		}
		if resp.Message.Content != w.text || streamed.String() != w.text || strings.Join(calls, "|") != w.calls {
			t.Errorf("turn %d = %q (streamed %q) %q, want %q %q", i+1, resp.Message.Content, streamed.String(), calls, w.text, w.calls)
		}
		if resp.Message.Role != llm.Assistant {
			t.Errorf("turn %d role = %q", i+1, resp.Message.Role)
		}
	}
	_, err = m.Stream(t.Context(), llm.Request{}, nil)
	const msg = "replay: the script has no more turns (played 3)"
	if bulwark.ErrorKind(err) != bulwark.QuotaExceeded || bulwark.ErrorMessage(err) != msg {
		t.Errorf("Stream past the end = %v, want QuotaExceeded %q", err, msg)
	}
}

func TestOwnPosition(t *testing.T) {
	path := writeScript(t, script)
	a, _ := Open(path)
	b, _ := Open(path)
	a.Stream(t.Context(), llm.Request{}, nil)
	resp, _ := b.Stream(t.Context(), llm.Request{}, nil)
	if resp.Message.Content != "I'll write the file." {
		t.Errorf("a second Model started at %q, want the first turn", resp.Message.Content)
	}
}

func TestConcurrentUse(t *testing.T) {
	m, err := Parse([]byte(strings.Repeat(`{"content":"x"}`+"\n", 50)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	played := 0
	for range 60 {
		wg.Go(func() {
			if _, err := m.Stream(context.Background(), llm.Request{}, nil); err == nil {
				mu.Lock()
				played++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if played != 50 {
		t.Errorf("played %d turns, want 50", played)
	}
}

func TestCanceled(t *testing.T) {
	m, _ := Parse([]byte(`{"content":"x"}`))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.Stream(ctx, llm.Request{}, nil); bulwark.ErrorKind(err) != bulwark.Canceled {
		t.Errorf("Stream(canceled) = %v, want Canceled", err)
	}
	if _, err := m.Stream(t.Context(), llm.Request{}, nil); err != nil {
		t.Errorf("the canceled call used up the turn: %v", err)
	}
}

var badScripts = []struct{ in, msg string }{
	{"", "no turns"},
	{"{\"content\": \"ok\"}\n{not json}\n", "line 2: not a turn object"},
	{"\n\n{\"content\": 3}", "line 3"},
	{`{"tool_calls": [{"arguments": {}}]}`, "line 1: tool call 1 has no name"},
	{`{"tool_calls": [{"name": "x", "arguments": "{\"a\":1}"}]}`, "arguments must be a JSON object"},
	{`{"content": "a"} {"content": "b"}`, "more than one JSON value"},
	{`{"contents": "typo"}`, "line 1"},
}

func TestOpenMalformed(t *testing.T) {
	for _, tc := range badScripts {
		_, err := Open(writeScript(t, tc.in))
		if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), tc.msg) {
			t.Errorf("Open(%q) = %v, want Invalid with %q", tc.in, err, tc.msg)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none.jsonl")); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Open(missing) = %v, want NotFound", err)
	}
}
