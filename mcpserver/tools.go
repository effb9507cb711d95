package mcpserver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The tools' inputs and outputs. Their JSON schemas are inferred from
// these types by the SDK, which refuses arguments that do not fit them
// (a missing field, a wrong type, an unknown field) before a handler
// runs.

type createTaskIn struct {
	Input string `json:"input" jsonschema:"what the agent should do"`
	Model string `json:"model,omitempty" jsonschema:"the model, PROVIDER:MODEL such as openai:gpt-4o; default: the tenant's"`
	Wait  bool   `json:"wait,omitempty" jsonschema:"true: answer when the task ends (or waits for an approval or an answer), with its answer; false: at once, with its id"`
}

type idIn struct {
	ID string `json:"id" jsonschema:"the task's id, t_..."`
}

type listTasksIn struct {
	Status string `json:"status,omitempty" jsonschema:"only tasks in these statuses, comma-separated: queued, running, waiting, succeeded, failed, canceled, interrupted"`
	Limit  int    `json:"limit,omitempty" jsonschema:"most tasks listed, 1 to 200; default 20"`
}

type sendMessageIn struct {
	ID   string `json:"id" jsonschema:"the task's id"`
	Text string `json:"text" jsonschema:"the message: the answer to the task's question, an instruction for its next step, or a new turn of a task that stopped"`
}

type decideIn struct {
	ID         string `json:"id" jsonschema:"the task's id"`
	ApprovalID string `json:"approval_id" jsonschema:"the approval's id, from list_approvals"`
	Decision   string `json:"decision" jsonschema:"allow or deny"`
}

// TaskOut is a task as the tools show it.
type TaskOut struct {
	ID      string        `json:"id"`
	Status  string        `json:"status"`
	Reason  string        `json:"reason,omitempty" jsonschema:"why it ended: done, max_steps, timeout, canceled, error, ..."`
	Answer  string        `json:"answer,omitempty" jsonschema:"its final answer, or why it failed"`
	Input   string        `json:"input,omitempty"`
	Model   string        `json:"model,omitempty"`
	Created string        `json:"created,omitempty"`
	Turns   int           `json:"turns,omitempty"`
	Usage   bulwark.Usage `json:"usage"`
	// Approvals are the calls the task waits for a person to allow
	// (create_task with wait, once it waits).
	Approvals []ApprovalOut `json:"approvals,omitempty"`
	// Question is what the task asked a person, when it waits for an
	// answer (send_message gives it).
	Question   string `json:"question,omitempty"`
	Transcript string `json:"transcript" jsonschema:"the URI of its transcript resource"`
	Note       string `json:"note,omitempty"`
}

// ApprovalOut is a call waiting for a person's decision.
type ApprovalOut struct {
	ID     string `json:"id"`
	Tool   string `json:"tool"`
	Target string `json:"target" jsonschema:"what the call does: the command, the path, the URL"`
	Rule   string `json:"rule,omitempty" jsonschema:"the policy rule that asks"`
	Reason string `json:"reason,omitempty"`
}

type taskListOut struct {
	Tasks []TaskOut `json:"tasks"`
}

type messageOut struct {
	Status string  `json:"status" jsonschema:"delivered (into the running turn) or continued (a new turn of a stopped task)"`
	Task   TaskOut `json:"task"`
}

type approvalsOut struct {
	Approvals []ApprovalOut `json:"approvals"`
}

type decideOut struct {
	ID       string `json:"id"`
	Decision string `json:"decision"`
}

// inputShown bounds the input a task list repeats.
const inputShown = 200

func taskOut(t bulwark.Task) TaskOut {
	out := TaskOut{ID: t.ID, Status: string(t.Status), Reason: string(t.Reason), Answer: t.Answer,
		Input: cut(t.Input, inputShown), Model: t.Model, Turns: t.Turns, Usage: t.Usage,
		Transcript: TranscriptURI(t.ID)}
	if !t.Created.IsZero() {
		out.Created = t.Created.UTC().Format(time.RFC3339)
	}
	return out
}

func approvalOut(a bulwark.Approval) ApprovalOut {
	return ApprovalOut{ID: a.ID, Tool: a.Tool, Target: a.Target, Rule: a.Rule, Reason: a.Reason}
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// readOnly and mutating are the tools' annotations: clients may call
// read-only tools without asking their user.
// A literal (new(false) would be a call the package's init makes).
var readOnly = &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: &closedWorld}

var closedWorld = false

func mutating(destructive bool) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{DestructiveHint: new(destructive), OpenWorldHint: new(true)}
}

func (h *handlers) addTools(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{Name: "create_task", Annotations: mutating(false),
		Description: "Start a Bulwark task: an agent works on input in its own sandboxed workspace, under the operator's policy. " +
			"With wait: true the call returns when the task ends (with its answer) or when it waits for a person " +
			"(an approval: decide_approval; a question: send_message), sending progress notifications meanwhile; " +
			"otherwise it returns at once with the task's id and status."}, h.createTask)
	mcp.AddTool(s, &mcp.Tool{Name: "get_task", Annotations: readOnly,
		Description: "A task's status, answer (once it ended) and usage (tokens, cost)."}, h.getTask)
	mcp.AddTool(s, &mcp.Tool{Name: "list_tasks", Annotations: readOnly,
		Description: "The newest tasks first, optionally only those in some statuses."}, h.listTasks)
	mcp.AddTool(s, &mcp.Tool{Name: "cancel_task", Annotations: mutating(true),
		Description: "Stop a task: at once when it is queued, at its next safe point when it runs."}, h.cancelTask)
	mcp.AddTool(s, &mcp.Tool{Name: "send_message", Annotations: mutating(false),
		Description: "Send a person's message to a task: the answer to its question, an instruction it reads before its next step, " +
			"or, for a task that has stopped, a new turn of its conversation."}, h.sendMessage)
	mcp.AddTool(s, &mcp.Tool{Name: "list_approvals", Annotations: readOnly,
		Description: "The tool calls a task waits for a person to allow or deny."}, h.listApprovals)
	mcp.AddTool(s, &mcp.Tool{Name: "decide_approval", Annotations: mutating(false),
		Description: "Allow or deny a tool call a task waits for (decision: allow or deny)."}, h.decideApproval)
}

func (h *handlers) createTask(ctx context.Context, req *mcp.CallToolRequest, in createTaskIn) (*mcp.CallToolResult, TaskOut, error) {
	if strings.TrimSpace(in.Input) == "" {
		return nil, TaskOut{}, h.userError(ctx, bulwark.Errorf(bulwark.Invalid, "create_task", "input: say what the task should do"))
	}
	t, err := h.b.CreateTask(ctx, in.Input, in.Model)
	if err != nil {
		return nil, TaskOut{}, h.userError(ctx, err)
	}
	if !in.Wait {
		return nil, taskOut(t), nil
	}
	out, err := h.wait(ctx, req, t)
	return nil, out, h.userError(ctx, err)
}

func (h *handlers) getTask(ctx context.Context, _ *mcp.CallToolRequest, in idIn) (*mcp.CallToolResult, TaskOut, error) {
	t, err := h.b.Task(ctx, in.ID)
	if err != nil {
		return nil, TaskOut{}, h.userError(ctx, err)
	}
	return nil, taskOut(t), nil
}

// maxList bounds list_tasks' limit, as the HTTP API bounds a page.
const maxList = 200

func (h *handlers) listTasks(ctx context.Context, _ *mcp.CallToolRequest, in listTasksIn) (*mcp.CallToolResult, taskListOut, error) {
	limit := in.Limit
	switch {
	case limit == 0:
		limit = 20
	case limit < 1 || limit > maxList:
		return nil, taskListOut{}, h.userError(ctx, bulwark.Errorf(bulwark.Invalid, "list_tasks", "limit: want a whole number from 1 to %d", maxList))
	}
	var status []bulwark.TaskStatus
	for st := range strings.SplitSeq(in.Status, ",") {
		st = strings.TrimSpace(st)
		if st == "" {
			continue
		}
		if !knownStatus(bulwark.TaskStatus(st)) {
			return nil, taskListOut{}, h.userError(ctx, bulwark.Errorf(bulwark.Invalid, "list_tasks",
				"status: want queued, running, waiting, succeeded, failed, canceled or interrupted"))
		}
		status = append(status, bulwark.TaskStatus(st))
	}
	ts, err := h.b.Tasks(ctx, status, limit)
	if err != nil {
		return nil, taskListOut{}, h.userError(ctx, err)
	}
	out := taskListOut{Tasks: make([]TaskOut, 0, len(ts))}
	for _, t := range ts {
		o := taskOut(t)
		o.Answer = cut(o.Answer, inputShown) // get_task shows the whole answer
		out.Tasks = append(out.Tasks, o)
	}
	return nil, out, nil
}

func knownStatus(s bulwark.TaskStatus) bool {
	switch s {
	case bulwark.TaskQueued, bulwark.TaskRunning, bulwark.TaskWaiting, bulwark.TaskSucceeded,
		bulwark.TaskFailed, bulwark.TaskCanceled, bulwark.TaskInterrupted:
		return true
	}
	return false
}

func (h *handlers) cancelTask(ctx context.Context, _ *mcp.CallToolRequest, in idIn) (*mcp.CallToolResult, TaskOut, error) {
	t, err := h.b.Cancel(ctx, in.ID)
	if err != nil {
		return nil, TaskOut{}, h.userError(ctx, err)
	}
	return nil, taskOut(t), nil
}

func (h *handlers) sendMessage(ctx context.Context, _ *mcp.CallToolRequest, in sendMessageIn) (*mcp.CallToolResult, messageOut, error) {
	if strings.TrimSpace(in.Text) == "" {
		return nil, messageOut{}, h.userError(ctx, bulwark.Errorf(bulwark.Invalid, "send_message", "text: the message is empty"))
	}
	t, continued, err := h.b.Message(ctx, in.ID, in.Text)
	if err != nil {
		return nil, messageOut{}, h.userError(ctx, err)
	}
	out := messageOut{Status: "delivered", Task: taskOut(t)}
	if continued {
		out.Status = "continued"
	}
	return nil, out, nil
}

func (h *handlers) listApprovals(ctx context.Context, _ *mcp.CallToolRequest, in idIn) (*mcp.CallToolResult, approvalsOut, error) {
	aps, err := h.b.Approvals(ctx, in.ID)
	if err != nil {
		return nil, approvalsOut{}, h.userError(ctx, err)
	}
	out := approvalsOut{Approvals: make([]ApprovalOut, 0, len(aps))}
	for _, a := range aps {
		out.Approvals = append(out.Approvals, approvalOut(a))
	}
	return nil, out, nil
}

func (h *handlers) decideApproval(ctx context.Context, _ *mcp.CallToolRequest, in decideIn) (*mcp.CallToolResult, decideOut, error) {
	if in.Decision != "allow" && in.Decision != "deny" {
		return nil, decideOut{}, h.userError(ctx, bulwark.Errorf(bulwark.Invalid, "decide_approval", `decision: want "allow" or "deny"`))
	}
	if in.ApprovalID == "" {
		return nil, decideOut{}, h.userError(ctx, bulwark.Errorf(bulwark.Invalid, "decide_approval", "approval_id: name the approval (see list_approvals)"))
	}
	if err := h.b.Decide(ctx, in.ID, in.ApprovalID, in.Decision == "allow"); err != nil {
		return nil, decideOut{}, h.userError(ctx, err)
	}
	return nil, decideOut{ID: in.ApprovalID, Decision: in.Decision}, nil
}

// wait follows task t until its turn ends or it waits for a person, or
// MaxWait passes, sending a progress notification for each step when the
// client asked for progress (and one every Heartbeat while nothing
// happens, so that clients which reset their timeout on progress keep
// waiting).
func (h *handlers) wait(ctx context.Context, req *mcp.CallToolRequest, t bulwark.Task) (TaskOut, error) {
	ctx, cancel := context.WithTimeout(ctx, h.o.MaxWait)
	defer cancel()
	if h.o.Lifetime != nil {
		stop := context.AfterFunc(h.o.Lifetime, cancel)
		defer stop()
	}
	token := req.Params.GetProgressToken()
	var progress float64
	notify := func(msg string) {
		if token == nil || req.Session == nil {
			return
		}
		progress++
		req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: progress, Message: msg})
	}
	notify("task " + t.ID + " " + string(t.Status))
	var after int64
	beat := time.NewTicker(h.o.Heartbeat)
	defer beat.Stop()
	for {
		ch, err := h.b.Subscribe(ctx, t.ID, after)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return TaskOut{}, err
		}
		waiting := false
	events:
		for {
			select {
			case e, ok := <-ch:
				if !ok {
					break events
				}
				if e.Seq > after {
					after = e.Seq
				}
				if msg := progressMessage(e); msg != "" {
					notify(msg)
				}
				if e.Type == bulwark.EventTaskFinished || asksPerson(e) {
					waiting = e.Type != bulwark.EventTaskFinished
					break events
				}
			case <-beat.C:
				notify("task " + t.ID + " is still working")
			case <-ctx.Done():
				break events
			}
		}
		cur, err := h.b.Task(context.WithoutCancel(ctx), t.ID)
		if err != nil {
			return TaskOut{}, err
		}
		if settled(cur.Status) || waiting || ctx.Err() != nil {
			return h.waited(ctx, cur, waiting)
		}
		// The stream ended with the task still going (the subscriber fell
		// behind, or the turn ended just now): look again.
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	cur, err := h.b.Task(context.WithoutCancel(ctx), t.ID)
	if err != nil {
		return TaskOut{}, err
	}
	return h.waited(ctx, cur, false)
}

// waited is the answer of a wait that ended with t as it is: ended,
// waiting for a person (with what it waits for), or still running.
func (h *handlers) waited(ctx context.Context, t bulwark.Task, asked bool) (TaskOut, error) {
	out := taskOut(t)
	if settled(t.Status) {
		return out, nil
	}
	bg := context.WithoutCancel(ctx)
	aps, err := h.b.Approvals(bg, t.ID)
	if err == nil {
		for _, a := range aps {
			out.Approvals = append(out.Approvals, approvalOut(a))
		}
	}
	if len(out.Approvals) > 0 {
		out.Note = "the task waits for approval: answer each with decide_approval"
		return out, nil
	}
	if asked || t.Status == bulwark.TaskWaiting {
		if evs, err := h.b.Events(bg, t.ID, 0, 0); err == nil {
			for i := len(evs) - 1; i >= 0; i-- {
				if evs[i].Type == bulwark.EventAskUser {
					out.Question = evs[i].Text
					break
				}
			}
		}
		if out.Question != "" {
			out.Note = "the task asks a question: answer it with send_message"
			return out, nil
		}
	}
	out.Note = fmt.Sprintf("the task is still %s: follow it with get_task", t.Status)
	return out, nil
}

// settled reports whether a task in status st has nothing more to do
// without a person: its turn ended.
func settled(st bulwark.TaskStatus) bool {
	return st != bulwark.TaskQueued && st != bulwark.TaskRunning && st != bulwark.TaskWaiting
}

// asksPerson reports whether e makes the task wait for a person: an
// approval not yet decided, or a question.
func asksPerson(e bulwark.Event) bool {
	return e.Type == bulwark.EventApproval && e.Decision == "" || e.Type == bulwark.EventAskUser
}

// progressMessage is the progress line of a stored event: what step the
// task is at. Texts are left out (the transcript has them).
func progressMessage(e bulwark.Event) string {
	switch e.Type {
	case bulwark.EventTaskStarted:
		return "started"
	case bulwark.EventToolCall:
		return fmt.Sprintf("step %d: %s", e.Step, e.Tool)
	case bulwark.EventModelText:
		return fmt.Sprintf("step %d: the model replied", e.Step)
	case bulwark.EventApproval:
		if e.Decision == "" {
			return fmt.Sprintf("step %d: %s waits for approval", e.Step, e.Tool)
		}
	case bulwark.EventAskUser:
		return fmt.Sprintf("step %d: the task asks a question", e.Step)
	case bulwark.EventTaskFinished:
		return "finished: " + string(e.Reason)
	}
	return ""
}
