package agent

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/tool"
)

// sentCalls keeps only calls that leave the task, the last maxSentCalls of
// them within maxSentBytes, oldest dropped first.
func TestSentCallsBounded(t *testing.T) {
	fetch := tool.Effects{URLs: []string{"http://x.test/"}, Hosts: []string{"x.test"}}
	mk := func(i, n int) llm.ToolCall {
		return llm.ToolCall{ID: strconv.Itoa(i), Name: "fetch_url", Arguments: json.RawMessage(`{"url":"` + strings.Repeat("a", n) + `"}`)}
	}
	var s sentCalls
	s.add(mk(-1, 10), tool.Effects{Writes: []string{"a.txt"}, Reads: []string{"b.txt"}})
	if len(s.calls) != 0 {
		t.Fatalf("a call that stays in the task was kept")
	}
	for _, e := range []tool.Effects{{Runs: []string{"python3"}}, {Dynamic: []string{"eval"}}, {Calls: []string{"srv/tool"}}, {Hosts: []string{"x.test"}}} {
		var one sentCalls
		if one.add(mk(0, 1), e); len(one.calls) != 1 {
			t.Errorf("a call with effects %+v was not kept", e)
		}
	}
	for i := range maxSentCalls + 3 {
		s.add(mk(i, 10), fetch)
	}
	if len(s.calls) != maxSentCalls || s.calls[0].ID != strconv.Itoa(3) {
		t.Fatalf("kept %d calls from %s, want the last %d", len(s.calls), s.calls[0].ID, maxSentCalls)
	}
	s.add(mk(100, maxSentBytes-100), fetch)
	if s.bytes > maxSentBytes || s.calls[len(s.calls)-1].ID != "100" {
		t.Fatalf("%d bytes kept, the last %s", s.bytes, s.calls[len(s.calls)-1].ID)
	}
	total := 0
	for _, c := range s.calls {
		total += len(c.Arguments)
	}
	if total != s.bytes {
		t.Errorf("counted %d bytes, hold %d", s.bytes, total)
	}
	s.add(mk(200, maxSentBytes+1), fetch)
	if s.calls[len(s.calls)-1].ID == "200" {
		t.Errorf("a call larger than the bound was kept")
	}
}
