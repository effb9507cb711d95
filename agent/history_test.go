package agent

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// ev is a stored event for the rebuild tests.
func ev(seq int64, step int, typ bulwark.EventType, text string) bulwark.Event {
	return bulwark.Event{Seq: seq, Step: step, Type: typ, Text: text}
}

func callEv(seq int64, step int, id, name string) bulwark.Event {
	return bulwark.Event{Seq: seq, Step: step, Type: bulwark.EventToolCall, CallID: id, Tool: name, Args: json.RawMessage(`{}`)}
}

func resultEv(seq int64, step int, id, name, text string) bulwark.Event {
	return bulwark.Event{Seq: seq, Step: step, Type: bulwark.EventToolResult, CallID: id, Tool: name, Text: text}
}

// brief writes a conversation as one line per message: role, content
// and the ids of its calls or of the call it answers.
func brief(msgs []llm.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s:%s", m.Role, m.Content)
		for _, c := range m.ToolCalls {
			fmt.Fprintf(&b, " [%s %s]", c.ID, c.Name)
		}
		if m.ToolCallID != "" {
			fmt.Fprintf(&b, " <%s>", m.ToolCallID)
		}
		b.WriteString("\n")
	}
	return b.String()
}

var rebuildTests = []struct {
	name        string
	events      []bulwark.Event
	want        string
	interrupted bool
	flagged     bool
	pending     string // the calls left for the resumed run: "id" or "id(waiting)", space-separated
}{
	{
		name: "a finished turn and a message",
		events: []bulwark.Event{
			ev(1, 0, bulwark.EventTaskStarted, "write a"),
			ev(3, 1, bulwark.EventModelText, "writing"),
			callEv(4, 1, "c1", "write_file"),
			resultEv(5, 1, "c1", "write_file", "wrote a"),
			callEv(6, 2, "c2", "finish"),
			resultEv(7, 2, "c2", "finish", "the answer"),
			{Seq: 8, Step: 2, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "the answer"},
			ev(9, 2, bulwark.EventUserMessage, "and b"),
		},
		want: "user:write a\nassistant:writing [c1 write_file]\ntool:wrote a <c1>\nassistant: [c2 finish]\ntool:The task is finished. <c2>\nuser:and b\n",
	},
	{
		name: "an ask_user answer and a message while it works",
		events: []bulwark.Event{
			ev(1, 0, bulwark.EventTaskStarted, "ask"),
			callEv(2, 1, "c1", "ask_user"),
			ev(3, 1, bulwark.EventAskUser, "name?"),
			ev(4, 1, bulwark.EventUserMessage, "Ada"),
			resultEv(5, 1, "c1", "ask_user", "Ada"),
			ev(6, 1, bulwark.EventUserMessage, "hurry"),
			callEv(7, 2, "c2", "finish"),
			resultEv(8, 2, "c2", "finish", "hi Ada"),
			{Seq: 9, Step: 2, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone},
			ev(10, 2, bulwark.EventUserMessage, "again"),
			ev(11, 2, bulwark.EventTaskStarted, ""),
			ev(12, 3, bulwark.EventModelText, "ok"),
		},
		want:        "user:ask\nassistant: [c1 ask_user]\ntool:Ada <c1>\nuser:Message from the user while you work: hurry\nassistant: [c2 finish]\ntool:The task is finished. <c2>\nuser:again\nassistant:ok\n",
		interrupted: true,
	},
	{
		name: "interrupted in a call; an empty reply; a guard",
		events: []bulwark.Event{
			ev(1, 0, bulwark.EventTaskStarted, "go"),
			ev(2, 1, bulwark.EventNotice, "You replied without calling a tool."),
			callEv(3, 2, "c1", "fetch_url"),
			{Seq: 4, Step: 2, Type: bulwark.EventGuard, Text: "injection"},
			resultEv(5, 2, "c1", "fetch_url", "page"),
			callEv(6, 3, "c2", "run_shell"),
		},
		want:        "user:go\nassistant:\nuser:You replied without calling a tool.\nassistant: [c1 fetch_url]\ntool:page <c1>\nassistant: [c2 run_shell]\n",
		interrupted: true,
		flagged:     true,
		pending:     "c2",
	},
	{
		name: "interrupted between the calls of a reply, one waiting for a person",
		events: []bulwark.Event{
			ev(1, 0, bulwark.EventTaskStarted, "go"),
			callEv(2, 1, "c1", "write_file"),
			resultEv(3, 1, "c1", "write_file", "wrote"),
			callEv(4, 1, "c2", "run_shell"),
			{Seq: 5, Step: 1, Type: bulwark.EventApproval, CallID: "c2", Tool: "run_shell", Text: "Allow run_shell: make?"},
		},
		want:        "user:go\nassistant: [c1 write_file] [c2 run_shell]\ntool:wrote <c1>\n",
		interrupted: true,
		pending:     "c2(waiting)",
	},
	{
		name: "interrupted in a call that a person approved, and in a question",
		events: []bulwark.Event{
			ev(1, 0, bulwark.EventTaskStarted, "go"),
			callEv(2, 1, "c1", "run_shell"),
			{Seq: 3, Step: 1, Type: bulwark.EventApproval, CallID: "c1", Tool: "run_shell", Text: "Allow run_shell: make?"},
			{Seq: 4, Step: 1, Type: bulwark.EventApproval, CallID: "c1", Tool: "run_shell", Decision: "allow", Text: "Allow run_shell: make?"},
			callEv(5, 1, "c2", "ask_user"),
			ev(6, 1, bulwark.EventAskUser, "which?"),
		},
		want:        "user:go\nassistant: [c1 run_shell] [c2 ask_user]\n",
		interrupted: true,
		pending:     "c1 c2(waiting)",
	},
	{
		name: "a resumed run answers the cut-off call after its task_started",
		events: []bulwark.Event{
			ev(1, 0, bulwark.EventTaskStarted, "go"),
			callEv(2, 1, "c1", "run_shell"),
			ev(3, 1, bulwark.EventTaskStarted, ""),
			resultEv(4, 1, "c1", "run_shell", "interrupted by a restart"),
			ev(5, 1, bulwark.EventNotice, "resumes now"),
			callEv(6, 2, "c2", "finish"),
			resultEv(7, 2, "c2", "finish", "done"),
			{Seq: 8, Step: 2, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "done"},
		},
		want: "user:go\nassistant: [c1 run_shell]\ntool:interrupted by a restart <c1>\nuser:resumes now\nassistant: [c2 finish]\ntool:The task is finished. <c2>\n",
	},
}

func TestRebuild(t *testing.T) {
	for _, tt := range rebuildTests {
		got := rebuild(tt.events)
		if b := brief(got.msgs); b != tt.want {
			t.Errorf("%s: rebuilt\n%s\nwant\n%s", tt.name, b, tt.want)
		}
		last := tt.events[len(tt.events)-1]
		if got.seq != last.Seq || got.step != last.Step {
			t.Errorf("%s: seq, step = %d, %d; want %d, %d", tt.name, got.seq, got.step, last.Seq, last.Step)
		}
		if got.interrupted != tt.interrupted {
			t.Errorf("%s: interrupted = %v, want %v", tt.name, got.interrupted, tt.interrupted)
		}
		var pending []string
		for _, p := range got.pending {
			s := p.call.ID
			if p.waiting {
				s += "(waiting)"
			}
			pending = append(pending, s)
		}
		if p := strings.Join(pending, " "); p != tt.pending {
			t.Errorf("%s: pending = %q, want %q", tt.name, p, tt.pending)
		}
		if (got.flagged != "") != tt.flagged {
			t.Errorf("%s: flagged = %q, want tainted %v", tt.name, got.flagged, tt.flagged)
		}
	}
}
