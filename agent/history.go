package agent

import (
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// Continuing a conversation
//
// A task that stopped (it finished, failed, was canceled, or was
// interrupted by a restart) continues in a new turn with the events its
// earlier turns stored (Config.History). The model's messages are rebuilt
// from them, as the model saw them: the events hold the masked text the
// model was given (task input, replies, tool calls, tool results,
// messages and notices), so nothing is kept twice. Seq and step numbers
// go on after the stored ones, and a task they show tainted stays tainted.
// The task and a person's messages are pinned, as in a running task: a
// conversation that outgrows the model's window is compacted again as it
// goes on (compact.go), from these events, which keep everything.

// resumeNotice is what the model is told when an interrupted turn goes on
// without a new message.
const resumeNotice = "The task was interrupted (the server restarted) and resumes now. Continue where you left off."

// rebuilt is what the events of earlier turns say about a conversation.
type rebuilt struct {
	msgs    []llm.Message // without the system prompt
	seq     int64         // the last seq stored
	step    int           // the last step stored
	flagged string        // why the task is tainted, or ""
	// found is the first finding of the guard that did not taint the
	// task (taint off), which taints a turn that runs in another mode.
	found string
	// interrupted: the last turn has no task_finished and no message
	// followed it, so the new turn resumes it.
	interrupted bool
	// pending are the calls of the interrupted turn's last reply whose
	// result was never stored, in order: msgs ends with that reply and
	// the results stored for its other calls; the resumed run answers
	// these (see resumeCalls), then adds trailing.
	pending  []pendingCall
	trailing []llm.Message
}

// pendingCall is a call whose start was stored and whose result was not.
type pendingCall struct {
	call llm.ToolCall
	// waiting: it was waiting for a person (an approval, or the answer to
	// ask_user) and had not run; asking again is safe.
	waiting bool
}

// Interrupted reports whether the stored events of a task end in a turn
// that a restart or a shutdown cut off: no task_finished ends it and no
// person's message opens a new turn after it. A run given these events as
// History resumes that turn.
func Interrupted(events []bulwark.Event) bool {
	return len(events) > 0 && rebuild(events).interrupted
}

// rebuild reads the stored events of a task's earlier turns.
func rebuild(events []bulwark.Event) rebuilt {
	var (
		out      rebuilt
		cur      *llm.Message // the assistant turn being read
		curStep  int
		lastStep int // the step of the last assistant turn
		results  = map[string]llm.Message{}
		notices  []llm.Message // user messages that follow the turn's results
		asking   bool          // an ask_user waits: the next user_message is its answer
		turnStep int           // the last step before the current turn began
		inTurn   bool          // a turn started and has not finished
		opening  bool          // the last event is a message that opens a new turn
		lastCall *llm.ToolCall
		asked    = map[string]bool{} // calls whose approval was asked and not decided
		askCall  string              // the ask_user call waiting for its answer
	)
	flush := func() {
		if cur != nil {
			out.msgs = append(out.msgs, *cur)
			for _, c := range cur.ToolCalls {
				res, ok := results[c.ID]
				if !ok {
					res = llm.Message{Role: llm.ToolRole, ToolCallID: c.ID, ToolName: c.Name, Content: "Not finished: the task was stopped.", IsError: true}
				}
				out.msgs = append(out.msgs, res)
			}
			cur = nil
		}
		out.msgs = append(out.msgs, notices...)
		notices = nil
	}
	open := func(step int) {
		if cur != nil && curStep == step {
			return
		}
		flush()
		cur, curStep, lastStep = &llm.Message{Role: llm.Assistant}, step, step
	}
	for i, e := range events {
		out.seq = max(out.seq, e.Seq)
		out.step = max(out.step, e.Step)
		switch e.Type {
		case bulwark.EventTaskStarted:
			if i == 0 || e.Text != "" {
				flush()
				out.msgs = append(out.msgs, llm.Message{Role: llm.User, Content: e.Text, Pinned: true})
			}
			// A run without text goes on with the same conversation: the
			// results of the calls it resumes follow it.
			turnStep, inTurn = out.step, true
		case bulwark.EventModelText:
			open(e.Step)
			cur.Content = e.Text
		case bulwark.EventToolCall:
			open(e.Step)
			c := llm.ToolCall{ID: e.CallID, Name: e.Tool, Arguments: e.Args}
			cur.ToolCalls = append(cur.ToolCalls, c)
			lastCall = &c
		case bulwark.EventToolResult:
			text := e.Text
			if e.Tool == "finish" && !e.IsError {
				text = "The task is finished." // what the model was told; Text is the answer
			}
			results[e.CallID] = llm.Message{Role: llm.ToolRole, ToolCallID: e.CallID, ToolName: e.Tool, Content: text, IsError: e.IsError}
		case bulwark.EventAskUser:
			asking = true
			if lastCall != nil {
				askCall = lastCall.ID
			}
		case bulwark.EventApproval:
			if e.Decision == "" {
				asked[e.CallID] = true
			} else {
				delete(asked, e.CallID)
			}
		case bulwark.EventUserMessage:
			// A message that continued the task is stored just before the
			// task_started of its turn (or last, until that turn starts).
			if i+1 == len(events) || events[i+1].Type == bulwark.EventTaskStarted {
				flush()
				out.msgs = append(out.msgs, llm.Message{Role: llm.User, Content: e.Text, Pinned: true})
				asking, opening = false, i+1 == len(events)
				continue
			}
			if asking { // the answer to ask_user: the tool result holds it
				asking, askCall = false, ""
				continue
			}
			flush()
			out.msgs = append(out.msgs, llm.Message{Role: llm.User, Content: "Message from the user while you work: " + e.Text, Pinned: true})
		case bulwark.EventNotice:
			if e.Step > lastStep && e.Step > turnStep {
				// A reply with neither text nor a tool call leaves only
				// the notice that answered it.
				open(e.Step)
			}
			notices = append(notices, llm.Message{Role: llm.User, Content: e.Text})
		case bulwark.EventGuard:
			const why = "an earlier turn of the task met untrusted text: "
			switch {
			case strings.HasSuffix(e.Text, notTainted):
				if out.found == "" {
					out.found = why + strings.TrimSuffix(e.Text, notTainted)
				}
			case out.flagged == "":
				out.flagged = why + e.Text
			}
		case bulwark.EventTaskFinished:
			if e.Reason == bulwark.FinishLoop && e.Step > lastStep && lastCall != nil {
				// The repeat that ended the task was answered without a
				// tool_call event.
				open(e.Step)
				c := *lastCall
				c.ID += "_repeat"
				cur.ToolCalls = append(cur.ToolCalls, c)
				results[c.ID] = llm.Message{Role: llm.ToolRole, ToolCallID: c.ID, ToolName: c.Name, Content: "Not run: " + e.Text + ".", IsError: true}
			}
			flush()
			inTurn = false
		}
	}
	out.interrupted = inTurn && !opening
	if out.interrupted && cur != nil {
		// The calls of the last reply that have no result are answered
		// by the resumed run, not here.
		var done []llm.ToolCall
		for _, c := range cur.ToolCalls {
			if _, ok := results[c.ID]; ok {
				done = append(done, c)
				continue
			}
			out.pending = append(out.pending, pendingCall{call: c, waiting: asked[c.ID] || askCall == c.ID})
		}
		if len(out.pending) > 0 {
			out.msgs = append(out.msgs, *cur)
			for _, c := range done {
				out.msgs = append(out.msgs, results[c.ID])
			}
			out.trailing, notices, cur = notices, nil, nil
		}
	}
	flush()
	return out
}
