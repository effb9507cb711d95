package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/internal/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// result is what a recorded stream comes to; it is the golden file's shape.
type result struct {
	Texts      []string      `json:"texts"`
	Message    llm.Message   `json:"message"`
	Usage      bulwark.Usage `json:"usage"`
	StopReason string        `json:"stop_reason"`
	Complete   bool          `json:"complete"`
	Error      string        `json:"error,omitempty"`
}

// accumulate runs a recorded SSE stream through an Accumulator.
func accumulate(r io.Reader) result {
	var res result
	var acc Accumulator
	sr := sse.NewReader(r)
	for !acc.Done() {
		ev, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			res.Error = err.Error()
			break
		}
		text, err := acc.Add(ev.Data)
		if err != nil {
			res.Error = err.Error()
			break
		}
		if text != "" {
			res.Texts = append(res.Texts, text)
		}
	}
	resp := acc.Response()
	res.Message, res.Usage, res.StopReason, res.Complete = resp.Message, resp.Usage, resp.StopReason, acc.Complete()
	return res
}

func TestAccumulatorRecordings(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sse")
	if len(files) == 0 {
		t.Fatal("no recordings in testdata")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(accumulate(bytes.NewReader(data)), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(file, ".sse") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("accumulate(%s) =\n%s\nwant\n%s", file, got, want)
			}
		})
	}
}

// The tolerance cases the recordings show, spelled out.
var accumulatorCases = []struct {
	file      string
	text      string
	calls     []string // name(arguments)
	wantError bool
}{
	{"openai_text.sse", "Hello, wörld!", nil, false},
	{"openai_tools.sse", "", []string{`call_Xy1 write_file({"path": "hello.txt", "content": "hi\n"})`, `call_Xy2 list_files({"path": "."})`}, false},
	{"ollama_tools.sse", "I'll create the file.", []string{`call_q8zmdd5v write_file({"content":"hi","path":"hello.txt"})`}, false},
	{"ollama_index0_twice.sse", "", []string{`call_a read_file({"path":"a.txt"})`, `call_b read_file({"path":"b.txt"})`}, false},
	{"vllm_tools.sse", "", []string{`chatcmpl-tool-4c0e run_shell({"command": "ls -la"})`}, false},
	{"lmstudio_noindex.sse", "Let me look.", []string{`call_1 search_files({"pattern":"TODO"})`, `call_2 read_file({"path":"main.go"})`}, false},
	{"openrouter_comments.sse", "Sure thing.", []string{`toolu_01A finish({"answer":"done"})`}, false},
	{"noid_crlf.sse", "no id ", []string{`call_1 list_files({})`, `call_2 finish({"answer": "ok"})`}, false},
	{"openrouter_error.sse", "Partial", nil, true},
}

func TestAccumulatorTolerance(t *testing.T) {
	for _, tc := range accumulatorCases {
		f, err := os.Open(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		res := accumulate(f)
		f.Close()
		if res.Message.Content != tc.text {
			t.Errorf("%s: text = %q, want %q", tc.file, res.Message.Content, tc.text)
		}
		var calls []string
		for _, c := range res.Message.ToolCalls {
			calls = append(calls, c.ID+" "+c.Name+"("+string(c.Arguments)+")")
		}
		if strings.Join(calls, "\n") != strings.Join(tc.calls, "\n") {
			t.Errorf("%s: calls = %q, want %q", tc.file, calls, tc.calls)
		}
		if (res.Error != "") != tc.wantError {
			t.Errorf("%s: error = %q, want error: %v", tc.file, res.Error, tc.wantError)
		}
	}
}

func TestAccumulatorRefusal(t *testing.T) {
	var acc Accumulator
	acc.Add([]byte(`{"choices":[{"index":0,"delta":{"content":null,"refusal":"I can't help with that."}}]}`))
	acc.Add([]byte(`{"choices":[{"index":1,"delta":{"content":"another choice"}}]}`))
	if got := acc.Response().Message.Content; got != "I can't help with that." {
		t.Errorf("content = %q, want the refusal", got)
	}
}

func TestAccumulatorStreamError(t *testing.T) {
	var acc Accumulator
	_, err := acc.Add([]byte(`{"error":{"message":"boom","code":502}}`))
	var se *StreamError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Add(error chunk) = %v, want a *StreamError saying boom", err)
	}
	if _, err := acc.Add([]byte(`{not json`)); err == nil {
		t.Errorf("Add(malformed chunk) = nil error, want an error")
	}
}

func FuzzAccumulator(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.sse")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var acc Accumulator
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			acc.Add(bytes.TrimPrefix(line, []byte("data:")))
		}
		resp := acc.Response()
		seen := map[string]bool{}
		for _, c := range resp.Message.ToolCalls {
			if c.ID == "" || seen[c.ID] {
				t.Fatalf("tool call id %q is empty or repeated in %+v", c.ID, resp.Message.ToolCalls)
			}
			seen[c.ID] = true
			if len(c.Arguments) == 0 {
				t.Fatalf("tool call %q has empty arguments", c.Name)
			}
		}
	})
}

// TestPlainString checks the decoder's shortcut against the decoder.
func TestPlainString(t *testing.T) {
	for _, raw := range []string{`""`, `"abc"`, `"a\"b"`, `"\u00e9t\u00e9"`, `"été"`, "\"bad \xff utf8\"", `"tab\tescaped"`, `"\\"`, `"<&>"`, `null`, `123`, `["x"]`} {
		var want string
		wantOK := json.Unmarshal([]byte(raw), &want) == nil
		if got, ok := plainString([]byte(raw)); ok && (!wantOK || got != want) {
			t.Errorf("plainString(%q) = %q, want %q (decodes: %v)", raw, got, want, wantOK)
		}
	}
}

// BenchmarkAccumulateTurn is the accumulation of one turn of bench
// agents: text a word at a time, a write_file call in pieces, the finish.
func BenchmarkAccumulateTurn(b *testing.B) {
	events := []string{
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Writing "},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"the "},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"next file."},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"write_file","arguments":""}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"step-3.txt\","}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"content\":\"xxxxxxxx"}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"}"}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`[DONE]`,
	}
	data := make([][]byte, len(events))
	for i, e := range events {
		data[i] = []byte(e)
	}
	b.ReportAllocs()
	for b.Loop() {
		var a Accumulator
		for _, d := range data {
			if _, err := a.Add(d); err != nil {
				b.Fatal(err)
			}
		}
		if r := a.Response(); len(r.Message.ToolCalls) != 1 {
			b.Fatalf("%d calls", len(r.Message.ToolCalls))
		}
	}
}

// FuzzUnescapeSimple: what unescapeSimple takes, json.Unmarshal decodes
// to the same string.
func FuzzUnescapeSimple(f *testing.F) {
	for _, s := range []string{`"{\"path\":\"a.txt\",\"content\":\"x\\ny\"}"`, `""`, `"\u00e9"`, `"é"`, "\"\xff\"", `"\/\b\f\r\t"`, `"a\"`, `"\x"`, "\"\x01\"", `"a"b"`, `"`, `x`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := unescapeSimple([]byte("junk"), raw)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("unescapeSimple(%q) took what json.Unmarshal refuses: %v", raw, err)
		}
		if string(got) != "junk"+want {
			t.Fatalf("unescapeSimple(%q) = %q, want %q", raw, got[4:], want)
		}
	})
}

// TestAccumulatorBoundsCalls: a reply of up to llm.MaxReplyParts tool
// calls is assembled, with a delta to an early call after many later
// ones going to that call; one more call fails the reply.
func TestAccumulatorBoundsCalls(t *testing.T) {
	var a Accumulator
	chunk := func(i int, id, name, args string) []byte {
		return []byte(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":` + strconv.Itoa(i) + `,"id":"` + id + `","function":{"name":"` + name + `","arguments":` + strconv.Quote(args) + `}}]}}]}`)
	}
	for i := range llm.MaxReplyParts {
		if _, err := a.Add(chunk(i, "c"+strconv.Itoa(i), "read_file", `{"path":`)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if _, err := a.Add(chunk(0, "", "", `"a"}`)); err != nil {
		t.Fatalf("a delta to call 0: %v", err)
	}
	if _, err := a.Add(chunk(llm.MaxReplyParts, "over", "read_file", `{}`)); err == nil || !strings.Contains(err.Error(), "tool calls in one reply") {
		t.Fatalf("call %d past the bound: %v", llm.MaxReplyParts+1, err)
	}
	r := a.Response()
	if len(r.Message.ToolCalls) != llm.MaxReplyParts || string(r.Message.ToolCalls[0].Arguments) != `{"path":"a"}` {
		t.Fatalf("%d calls, first %s", len(r.Message.ToolCalls), r.Message.ToolCalls[0].Arguments)
	}
}
