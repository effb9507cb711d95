package anthropic

import (
	"bytes"
	"encoding/json"
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
		text, err := acc.Add(ev.Event, ev.Data)
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

var accumulatorCases = []struct {
	file  string
	text  string
	calls []string
	usage bulwark.Usage
	err   bool
}{
	{"text_and_tool.sse", "Okay, let me write that file.", []string{`toolu_01T1x1fJ34qAmk2tNTrN7Up6 write_file({"path": "hello.txt", "content": "hi"})`}, bulwark.Usage{InputTokens: 572, OutputTokens: 89}, false},
	{"text_only.sse", "Héllo!", nil, bulwark.Usage{InputTokens: 25, OutputTokens: 15}, false},
	{"thinking_two_tools.sse", "", []string{`toolu_A list_files({})`, `toolu_B read_file({"path":"README.md"})`}, bulwark.Usage{InputTokens: 900, OutputTokens: 60}, false},
	{"overloaded.sse", "", nil, bulwark.Usage{InputTokens: 10, OutputTokens: 1}, true},
}

func TestAccumulator(t *testing.T) {
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
		if res.Usage != tc.usage {
			t.Errorf("%s: usage = %+v, want %+v", tc.file, res.Usage, tc.usage)
		}
		if (res.Error != "") != tc.err {
			t.Errorf("%s: error = %q, want error: %v", tc.file, res.Error, tc.err)
		}
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
		sr := sse.NewReader(bytes.NewReader(data))
		for {
			ev, err := sr.Next()
			if err != nil {
				break
			}
			acc.Add(ev.Event, ev.Data)
		}
		for _, c := range acc.Response().Message.ToolCalls {
			if len(c.Arguments) == 0 {
				t.Fatalf("tool call %q has empty arguments", c.Name)
			}
		}
	})
}

// TestAccumulatorBoundsBlocks: a reply of up to llm.MaxReplyParts content
// blocks is assembled, a delta to an early block after many later ones
// going to that block; one more block fails the reply.
func TestAccumulatorBoundsBlocks(t *testing.T) {
	var a Accumulator
	for i := range llm.MaxReplyParts {
		ev := `{"type":"content_block_start","index":` + strconv.Itoa(i) + `,"content_block":{"type":"tool_use","id":"t` + strconv.Itoa(i) + `","name":"read_file","input":{}}}`
		if _, err := a.Add("", []byte(ev)); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	if _, err := a.Add("", []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"path\":\"a\"}"}}`)); err != nil {
		t.Fatalf("a delta to block 0: %v", err)
	}
	for _, ev := range []string{
		`{"type":"content_block_start","index":5000,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":5001,"delta":{"type":"text_delta","text":"x"}}`,
	} {
		if _, err := a.Add("", []byte(ev)); err == nil || !strings.Contains(err.Error(), "content blocks in one reply") {
			t.Fatalf("a block past the bound (%s): %v", ev, err)
		}
	}
	r := a.Response()
	if len(r.Message.ToolCalls) != llm.MaxReplyParts || string(r.Message.ToolCalls[0].Arguments) != `{"path":"a"}` {
		t.Fatalf("%d calls, first %s", len(r.Message.ToolCalls), r.Message.ToolCalls[0].Arguments)
	}
}
