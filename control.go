package bulwark

import (
	"context"
	"time"
)

// Control requests carry what a person asks of a task (stop it, a
// message, a decision on an approval) to the process that runs it, when
// the request reaches another process: `bulwark tasks cancel` beside a
// `bulwark serve`, a server beside a `bulwark run`, one node of a cluster
// beside another. The process that receives the request and does not run
// the task stores it (ControlStore.SendControl); the process that runs the
// task polls for the requests of the tasks it holds, a few times a second,
// takes them (ControlStore.TakeControls) and carries them out as if they
// had been made to it.

// ControlKind names what a control request asks.
type ControlKind string

const (
	// ControlCancel stops the task (as runner.Cancel does).
	ControlCancel ControlKind = "cancel"
	// ControlMessage delivers ControlRequest.Text to the task: the answer
	// to its question when it asked one (ask_user), else a message it
	// reads before its next step.
	ControlMessage ControlKind = "message"
	// ControlAnswer decides the approval ControlRequest.ApprovalID the
	// task waits for: Allow runs the call, !Allow refuses it.
	ControlAnswer ControlKind = "answer"
)

// Valid reports whether k is one of the kinds above.
func (k ControlKind) Valid() bool {
	return k == ControlCancel || k == ControlMessage || k == ControlAnswer
}

// ControlRequest is one request to the process that runs a task.
type ControlRequest struct {
	// ID is the request's id ("ctl_..."), set by SendControl.
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	TaskID   string `json:"task_id"`
	// Turn is the turn of the task's conversation (Task.Turns) the
	// request was made for, as the sender read it: the process running
	// the task drops a request for another turn (made to a turn that
	// ended before the request was taken), so that it never reaches a
	// later turn a person began. A run that rescues a task whose node
	// stopped (a turn of its own, begun by no one) takes the requests
	// made for the turn it rescues.
	Turn int         `json:"turn"`
	Kind ControlKind `json:"kind"`
	// Actor names who asked (a user or API key id, "cli"), for the audit
	// log of the process that carries the request out.
	Actor string `json:"actor,omitempty"`
	// Text is the message of a ControlMessage.
	Text string `json:"text,omitempty"`
	// ApprovalID and Allow are the decision of a ControlAnswer.
	ApprovalID string `json:"approval_id,omitempty"`
	Allow      bool   `json:"allow,omitempty"`
	// Created is when the request was stored, set by SendControl.
	Created time.Time `json:"created"`
	// EventSeq is the Seq of the task's last stored event when the
	// request was stored (0: it had none): a message is the answer to the
	// task's question (ask_user) only when it was sent after the
	// question's event was stored (EventSeq >= that event's Seq); one
	// written before the question existed is an ordinary message.
	// SendControl sets it, but for a request given one (not 0: a
	// request stored again for a later run keeps its own). Below 0
	// (EventSeqUnknown), when it was sent is not known, and it is never
	// an answer: a request stored by a version before EventSeq (a node
	// not yet upgraded, whose rows read 0), or a message a run had in
	// its inbox, stored again. Counted as sent now, it could answer a
	// question asked after it.
	EventSeq int64 `json:"event_seq"`
	// Audited marks a request that the process that took it audited
	// (a cancel's task.cancel_requested) before it stored it again for
	// the run that goes on with its task: that run does not audit it a
	// second time.
	Audited bool `json:"audited,omitempty"`
}

// ErrCanceledAtStop is the Conflict of a store's ContinueTask of an
// interrupted task whose turn a person canceled as its
// run stopped (a cancel stored for the turn and not taken): the cancel is
// carried out (runner: the turn ends canceled), not the turn, and nothing
// changes. A later turn opens once the task has ended.
var ErrCanceledAtStop = &Error{Kind: Conflict, Op: "ContinueTask", // a literal: no init work
	Msg: "the task was canceled as it stopped, and does not go on: cancel it to end it, then send it a message"}

// ErrTurnMoved is the Conflict of a store's compare-and-set of an
// interrupted task (ResumeTask, EndInterrupted) that is no longer
// interrupted in the turn the caller read: another node resumed,
// continued or ended it meanwhile. Nothing changes; the caller reads the
// task again.
var ErrTurnMoved = &Error{Kind: Conflict, Op: "store", // a literal: no init work
	Msg: "the task is no longer interrupted where it was read: another server resumed, continued or ended it meanwhile"}

// EventSeqUnknown is the EventSeq of a request stored again whose own is
// not known: never an answer.
const EventSeqUnknown = -1

// TaskRef names a task of a tenant.
type TaskRef struct {
	Tenant TenantID
	ID     string
}

// ControlStore keeps control requests until the process running their task
// takes them. Both methods are safe for concurrent use by several
// processes (and nodes) on one store.
//
// A store keeps, per request: an increasing sequence number (the order
// requests were stored in), its id, tenant, task, turn, kind and EventSeq
// in the clear (to find and order requests), when it was created and when
// it was taken (null until then), and the rest (actor, text, approval id,
// decision) as JSON sealed with the tenant's data key, bound to the
// tenant and the request id (record kind "control"), as event payloads
// are. An index on the task of the requests not taken serves the poll.
// The SQLite store's table is task_controls (migration 0011); a request is
// deleted with its task or tenant, and a store may delete requests taken
// more than a day ago. Requests not taken stay until then: a sender may
// find a task running that ends before the request is taken, and Turn
// keeps such a request from reaching a later turn; but for the messages
// of an interrupted turn, which the next goes on with (ContinueTask moves
// them to it).
type ControlStore interface {
	// SendControl stores r for the process that runs task r.TaskID of
	// tenant and returns it with ID ("ctl_..." from NewID) and Created
	// set, TenantID set to tenant, and EventSeq, when r has none (0), set to
	// the Seq of the task's last event, read in the same transaction. An unknown task (or one of another
	// tenant) is NotFound; an invalid kind, a message without text or an
	// answer without an approval id, Invalid. Storing a request does not
	// check that a process runs the task: the sender checks the task's
	// status first (and copies its Turns into r.Turn).
	SendControl(ctx context.Context, tenant TenantID, r ControlRequest) (ControlRequest, error)
	// TakeControls returns the requests not taken yet for the tasks
	// named (each matched by task id and tenant: a request stored for a
	// task under another tenant is not returned, nor taken), oldest first
	// (in the order they were stored), and marks them taken in the same
	// transaction: each request is returned once, to one caller, even
	// when several poll at once (PostgreSQL: UPDATE ... WHERE taken IS
	// NULL ... RETURNING, or SELECT ... FOR UPDATE SKIP LOCKED). It is
	// called a few times a second by every process that runs tasks, with
	// the tasks it holds (queued or running in it, possibly hundreds), so
	// it must be cheap when there is nothing to take: one indexed read, no
	// write. No tasks: nothing, no query.
	TakeControls(ctx context.Context, tasks []TaskRef) ([]ControlRequest, error)
	// CancelStored reports whether a cancel is stored, not taken, for
	// turn turn of task id of tenant (a person canceled the task as its
	// run stopped), without taking it. An unknown task is NotFound.
	CancelStored(ctx context.Context, tenant TenantID, id string, turn int) (bool, error)
}
