package replay

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark/llm"
)

// positionTests: a new Model given a conversation plays the line after
// the assistant turns it holds; its own plays count when further on.
var positionTests = []struct {
	name      string
	assistant int // assistant turns in the conversation
	before    int // turns this Model played before
	want      string
}{
	{"a new conversation", 0, 0, "I'll write the file."},
	{"one turn played elsewhere", 1, 0, ""}, // the read_file turn
	{"two turns played elsewhere", 2, 0, "Done, ünïcode and all."},
	{"this Model is further on", 0, 2, "Done, ünïcode and all."},
}

func TestPositionFollowsTheConversation(t *testing.T) {
	for _, tt := range positionTests {
		m, err := Parse([]byte(script))
		if err != nil {
			t.Fatal(err)
		}
		for range tt.before {
			if _, err := m.Stream(context.Background(), llm.Request{}, nil); err != nil {
				t.Fatal(err)
			}
		}
		msgs := []llm.Message{{Role: llm.System, Content: "s"}, {Role: llm.User, Content: "u"}}
		for range tt.assistant {
			msgs = append(msgs, llm.Message{Role: llm.Assistant, Content: "earlier"}, llm.Message{Role: llm.User, Content: "more"})
		}
		resp, err := m.Stream(context.Background(), llm.Request{Messages: msgs}, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if resp.Message.Content != tt.want || (tt.want == "" && len(resp.Message.ToolCalls) != 2) {
			t.Errorf("%s: played %q (%d calls), want %q", tt.name, resp.Message.Content, len(resp.Message.ToolCalls), tt.want)
		}
	}
	m, _ := Parse([]byte(script))
	msgs := []llm.Message{{Role: llm.Assistant}, {Role: llm.Assistant}, {Role: llm.Assistant}}
	if _, err := m.Stream(context.Background(), llm.Request{Messages: msgs}, nil); err == nil {
		t.Errorf("a conversation past the script's end played a turn, want an error")
	}
}
