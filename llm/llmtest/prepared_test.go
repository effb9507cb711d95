package llmtest

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A prepared turn's reply is byte for byte the reply made afresh (the
// time aside), over both servers, for every request number; and it is
// used, not quietly made afresh.
func TestPreparedSameReply(t *testing.T) {
	t.Parallel()
	args := json.RawMessage(`{"path":"a.txt","content":"xxxx"}`)
	turns := []Turn{
		{Content: "Writing the next file.", ToolCalls: []ToolCall{{Name: "write_file", Arguments: args}}},
		{Content: "two calls", ToolCalls: []ToolCall{{Name: "a", Arguments: args}, {ID: "own", Name: "finish", Arguments: json.RawMessage(`{"answer":"done"}`)}}, Quirks: SmallChunks | Comments},
		{Content: "no tools", Quirks: WholeToolCall | NoIndex},
		{Content: "holds a sentinel " + strconv.Itoa(sentinelN), Quirks: NoDone},
		{ToolCalls: []ToolCall{{Name: "x", Arguments: json.RawMessage(`{bad`)}}, Quirks: ArgumentsObject},
	}
	created := regexp.MustCompile(`"created":\d+`)
	for _, lean := range []bool{false, true} {
		for i, turn := range turns {
			turn.Quirks |= Buffered
			var got [2]string
			for k, tt := range []Turn{turn, Prepare(turn)} {
				srv := NewServer(Script(tt, tt, tt))
				if lean {
					srv.Close()
					srv = NewLeanServer(Script(tt, tt, tt))
				}
				for range 3 { // the third reply is made from the template
					resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"go"}]}`))
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					got[k] = created.ReplaceAllString(string(b), `"created":0`)
				}
				srv.Close()
			}
			if got[0] != got[1] || !strings.Contains(got[0], `"id":"chatcmpl-3"`) {
				t.Errorf("lean %v, turn %d: prepared reply\n%s\nfresh\n%s", lean, i, got[1], got[0])
			}
		}
	}
	p := Prepare(Turn{Content: "a b", ToolCalls: []ToolCall{{Name: "a", Arguments: args}}, Quirks: Buffered})
	if _, ok := p.prep.render(nil, p, Buffered, &Request{N: 5, Model: "m"}, 1); !ok {
		t.Error("a prepared bench turn is not rendered from its template")
	}
	if _, ok := p.prep.render(nil, p, Buffered, &Request{N: 5, Model: "other"}, 1); ok {
		t.Error("a template made for one model served another")
	}
	s := Prepare(turns[3])
	if _, ok := s.prep.render(nil, s, s.Quirks, &Request{N: 5, Model: "m"}, 1); ok {
		t.Error("a reply holding a sentinel was rendered from a template")
	}
}
