package llmtest

import (
	"encoding/json"
	"reflect"
	"testing"
)

// checkChunk fails t unless appendChunk(c) reads as json.Marshal(c) does.
func checkChunk(t *testing.T, c *oaChunk) {
	t.Helper()
	want, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got := appendChunk(nil, c)
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("appendChunk wrote invalid JSON %s: %v", got, err)
	}
	json.Unmarshal(want, &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("appendChunk wrote\n%s\nwant (json.Marshal)\n%s", got, want)
	}
}

func chunkOf(content, name, args string) *oaChunk {
	i := 1
	finish := "tool_calls"
	return &oaChunk{ID: "chatcmpl-" + name, Object: "chat.completion.chunk", Created: 1732000002, Model: content,
		Choices: []oaChoice{
			{Delta: oaDelta{Role: "assistant", Content: &content}},
			{Index: 1, Delta: oaDelta{ToolCalls: []oaToolCall{{Index: &i, ID: name, Type: "function",
				Function: oaFunction{Name: name, Arguments: stringArg(args)}}}}, FinishReason: &finish},
			{Delta: oaDelta{ToolCalls: []oaToolCall{{Function: oaFunction{Arguments: stringArg(args)}}, {}}}},
			{},
		}}
}

var chunkSeeds = [][3]string{
	{"", "", ""},
	{"Writing the next file.", "write_file", `{"path":"a.txt","content":"x"}`},
	{"quotes \" and \\ and \n\t\r\x00\x1f", "<b>&amp;</b>", "\u2028\u2029"},
	{"bad \xff\xfe utf-8 \xc3", "é😀", "\xed\xa0\x80"},
}

func TestAppendChunk(t *testing.T) {
	for _, s := range chunkSeeds {
		checkChunk(t, chunkOf(s[0], s[1], s[2]))
	}
	checkChunk(t, &oaChunk{ID: "x", Choices: []oaChoice{}})
	checkChunk(t, &oaChunk{ID: "x"})
}

func FuzzAppendChunk(f *testing.F) {
	for _, s := range chunkSeeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, content, name, args string) {
		checkChunk(t, chunkOf(content, name, args))
	})
}
