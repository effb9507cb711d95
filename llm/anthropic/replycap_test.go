package anthropic

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/llm"
)

// A reply stops being taken past llm.MaxReplyBytes (red team, session
// 42); its usage is clamped.
func TestReplyBounded(t *testing.T) {
	piece := strings.Repeat("A", 1<<20)
	for name, ev := range map[string]string{
		"text":  `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"` + piece + `"}}`,
		"input": `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"` + piece + `"}}`,
	} {
		var a Accumulator
		a.Add("content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`))
		a.Add("content_block_start", []byte(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"write_file","input":{}}}`))
		var err error
		n := 0
		for ; n < 64 && err == nil; n++ {
			_, err = a.Add("content_block_delta", []byte(ev))
		}
		if !errors.Is(err, llm.ErrReplyTooLarge) || n > llm.MaxReplyBytes>>20+1 {
			t.Errorf("%s: after %d MiB, Add = %v; want ErrReplyTooLarge at %d MiB", name, n, err, llm.MaxReplyBytes>>20)
		}
	}
	var a Accumulator
	a.Add("message_start", []byte(`{"type":"message_start","message":{"usage":{"input_tokens":-7,"output_tokens":-3}}}`))
	if u := a.Response().Usage; u.InputTokens != 0 || u.OutputTokens != 0 {
		t.Errorf("usage %+v: want negative counts 0", u)
	}
}
