package storecheck

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/bulwark-agents/bulwark"
)

// ControlRequest refuses a control request no process could carry out:
// Invalid.
func ControlRequest(op string, r bulwark.ControlRequest) error {
	if err := TaskID(op, r.TaskID); err != nil {
		return err
	}
	switch {
	case !r.Kind.Valid():
		return bulwark.Errorf(bulwark.Invalid, op, "control kind %q: want cancel, message or answer", r.Kind)
	case r.Kind == bulwark.ControlMessage && r.Text == "":
		return bulwark.Errorf(bulwark.Invalid, op, "a message needs text")
	case r.Kind == bulwark.ControlAnswer && r.ApprovalID == "":
		return bulwark.Errorf(bulwark.Invalid, op, "an answer needs the approval it decides")
	}
	return nil
}

// controlPayload is the sealed part of a control request: who sent it
// and what it says.
type controlPayload struct {
	Actor      string `json:"actor,omitempty"`
	Text       string `json:"text,omitempty"`
	ApprovalID string `json:"approval_id,omitempty"`
	Allow      bool   `json:"allow,omitempty"`
	Audited    bool   `json:"audited,omitempty"`
}

// ControlPayload is the JSON of the part of r that stores seal.
func ControlPayload(r bulwark.ControlRequest) ([]byte, error) {
	return json.Marshal(controlPayload{Actor: r.Actor, Text: r.Text, ApprovalID: r.ApprovalID, Allow: r.Allow, Audited: r.Audited})
}

// OpenControlPayload sets the sealed part of r from its opened JSON.
func OpenControlPayload(op string, r *bulwark.ControlRequest, pt []byte) error {
	var p controlPayload
	if err := json.Unmarshal(pt, &p); err != nil {
		return bulwark.E(bulwark.Internal, op, "a stored request does not read back", err)
	}
	r.Actor, r.Text, r.ApprovalID, r.Allow, r.Audited = p.Actor, p.Text, p.ApprovalID, p.Allow, p.Audited
	return nil
}

// AnsweredAlready refuses an answer to an approval that an answer stored
// for the same turn, not taken yet, already decides: the run takes the
// first and drops the others unaudited, so a later one answered 200 was
// never applied nor recorded (red team, session 42: a deny sent 10 ms
// after an allow, on another node, was told it was taken while the call
// ran). It runs in the transaction that stores r, which the store makes
// the only one storing for the task (SQLite's one writer, PostgreSQL's
// lock on the task's row); query selects the id and payload_ct of the
// task's answers not taken for a turn (tenant, task, turn, kind), and
// open opens a payload.
func AnsweredAlready(ctx context.Context, tx *sql.Tx, op, query string, tenant bulwark.TenantID, r bulwark.ControlRequest,
	open func(ctx context.Context, id string, ct []byte) ([]byte, error)) error {
	if r.Kind != bulwark.ControlAnswer {
		return nil
	}
	rows, err := tx.QueryContext(ctx, query, tenant, r.TaskID, r.Turn, r.Kind)
	if err != nil {
		return err
	}
	type stored struct {
		id string
		ct []byte
	}
	var all []stored
	for rows.Next() {
		var x stored
		if err := rows.Scan(&x.id, &x.ct); err != nil {
			rows.Close()
			return err
		}
		all = append(all, x)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, x := range all {
		pt, err := open(ctx, x.id, x.ct)
		if err != nil {
			return err
		}
		prev := bulwark.ControlRequest{ID: x.id}
		if err := OpenControlPayload(op, &prev, pt); err != nil {
			return err
		}
		if prev.ApprovalID == r.ApprovalID {
			return bulwark.Errorf(bulwark.Conflict, op, "this approval was already decided")
		}
	}
	return nil
}

// EndingEvents refuses the events of EndInterrupted that would not end
// task id: none, one of another task, a task_started (which would mark
// it running), or a last one that is not a task_finished: Invalid.
func EndingEvents(op, id string, events []bulwark.Event) error {
	if err := TaskID(op, id); err != nil {
		return err
	}
	if len(events) == 0 || events[len(events)-1].Type != bulwark.EventTaskFinished {
		return bulwark.Errorf(bulwark.Invalid, op, "the events that end a task end with its task_finished")
	}
	for _, e := range events {
		if e.TaskID != id || e.Type == bulwark.EventTaskStarted {
			return bulwark.Errorf(bulwark.Invalid, op, "an event of another task, or a task_started, does not end the task")
		}
	}
	return nil
}
