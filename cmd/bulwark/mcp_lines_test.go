package main

import (
	"bufio"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/secret"
)

// `bulwark mcp serve` answers a line it cannot take with a JSON-RPC error
// and goes on: each of these ended the process with exit 1, and every
// task it ran with it (red team, session 42).
func TestMCPServeAnswersBadLines(t *testing.T) {
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	bad := []struct{ line, code string }{
		{`{not json`, "-32700"},
		{`[{"jsonrpc":"2.0","id":10,"method":"tools/list"}]`, "-32600"},
		{`{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}`, "-32600"},
		{`{"jsonrpc":"1.0","id":23,"method":"ping"}`, "-32600"},
		{`{"id":24,"method":"ping"}`, "-32600"},
		{`{"jsonrpc":"2.0","id":"x"`, "-32700"},
		{`{"jsonrpc":"2.0"}`, "-32600"},
		{`"just a string"`, "-32600"},
	}
	lines := []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	}
	for _, b := range bad {
		lines = append(lines, b.line)
	}
	lines = append(lines, "", `{"jsonrpc":"2.0","id":99,"method":"tools/list"}`)
	cmd := bulwarkCmd(t, []string{"BULWARK_DATA=" + data}, "mcp", "serve", "--model", "replay:"+example(t))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { in.Write([]byte(strings.Join(lines, "\n") + "\n")) }()
	var codes []string
	listed := false
	var seen strings.Builder
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for !listed && sc.Scan() { // ends at the answer to tools/list, or when the process does
		seen.WriteString(sc.Text() + "\n")
		var m struct {
			ID    json.RawMessage `json:"id"`
			Error *struct {
				Code json.Number `json:"code"`
			} `json:"error"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			t.Fatalf("a line that is no JSON-RPC message: %q", sc.Text())
		}
		if m.Error != nil && string(m.ID) == "null" {
			codes = append(codes, m.Error.Code.String())
		}
		listed = string(m.ID) == "99" && strings.Contains(string(m.Result), "create_task")
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("mcp serve after its input ended: %v", err)
	}
	out := seen.String()
	if !listed {
		t.Fatalf("tools/list after the bad lines was not answered:\n%s", out)
	}
	if len(codes) != len(bad) {
		t.Fatalf("%d errors answered, want %d: %v\n%s", len(codes), len(bad), codes, out)
	}
	for i, b := range bad {
		if codes[i] != b.code {
			t.Errorf("%s: error %s, want %s", b.line, codes[i], b.code)
		}
	}
}

// FuzzMCPLines: whatever a client sends, mcpLines passes on only lines
// that are one JSON object with "jsonrpc":"2.0", each whole, and answers
// the rest with one JSON-RPC error each.
func FuzzMCPLines(f *testing.F) {
	f.Add([]byte("{not json\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n"))
	f.Add([]byte("[1,2]\r\n\n{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var answers strings.Builder
		l := newMCPLines(strings.NewReader(string(in)), &lockedWriter{w: &answers})
		l.max = 64
		out, err := io.ReadAll(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
			if line == "" && len(out) == 0 {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["jsonrpc"] != "2.0" || len(line) > 64 {
				t.Fatalf("passed on %q", line)
			}
		}
		for _, a := range strings.Split(strings.TrimSuffix(answers.String(), "\n"), "\n") {
			if a != "" && !json.Valid([]byte(a)) {
				t.Fatalf("answered %q", a)
			}
		}
	})
}
