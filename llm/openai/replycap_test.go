package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/llm"
)

// A reply stops being taken past llm.MaxReplyBytes of text or tool-call
// arguments: a hostile server streaming without end grew the process by
// 150 MB a second (red team, session 42). Negative and huge usage is
// clamped.
func TestReplyBounded(t *testing.T) {
	piece := strings.Repeat("A", 1<<20)
	for name, chunk := range map[string]string{
		"text":      `{"choices":[{"index":0,"delta":{"content":"` + piece + `"}}]}`,
		"arguments": `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"` + piece + `"}}]}}]}`,
	} {
		var a Accumulator
		a.Add([]byte(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"write_file","arguments":""}}]}}]}`))
		var err error
		n := 0
		for ; n < 64 && err == nil; n++ {
			_, err = a.Add([]byte(chunk))
		}
		if !errors.Is(err, llm.ErrReplyTooLarge) || n > llm.MaxReplyBytes>>20+1 || !strings.Contains(err.Error(), fmt.Sprintf("%d MiB", llm.MaxReplyBytes>>20)) {
			t.Errorf("%s: after %d MiB, Add = %v; want ErrReplyTooLarge at %d MiB", name, n, err, llm.MaxReplyBytes>>20)
		}
	}
	var a Accumulator
	a.Add([]byte(`{"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":{"prompt_tokens":-5000000,"completion_tokens":9223372036854775807,"cost":-100}}`))
	u := a.Response().Usage
	if u.InputTokens != 0 || u.OutputTokens <= 0 || u.OutputTokens > 1<<40 || u.Cost != 0 {
		t.Errorf("usage %+v: want negative counts and cost 0, a huge count clamped", u)
	}
	if _, err := json.Marshal(u); err != nil {
		t.Error(err)
	}
}
