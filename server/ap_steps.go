package server

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// How Agent Protocol steps map onto Bulwark tasks
//
// A Bulwark task runs on its own: once created it takes model turns until
// it finishes. The protocol's step N is the task's model turn N, made of
// the events whose Step is N: output is the model's text of that turn
// (the final answer, for the last step of a finished task),
// additional_output lists the tool calls, errors and, at the end, the
// finish reason; artifacts are the files its tool calls declared they
// write (bulwark.Effects: write_file, edit_file, run_code's program);
// input is what a person sent that the task read before the
// turn. A step is "completed" once the next turn has begun or the task
// has stopped, "running" before. is_last is true on the last step of a
// task that has stopped (finished, failed, canceled or interrupted). A
// task that stopped before its first turn has one step holding why.
//
// Executing a step (POST .../steps) returns the oldest completed step no
// execute call has returned yet, waiting up to apStepWait for the task to
// complete it; if it does not in time, the running step comes back
// (status "running") and the next call returns it again. A step with an
// input sends it to the task as a message first (as POST
// /api/v1/tasks/{id}/messages); an empty body, no input, or the task's
// own input again (clients commonly repeat it) just continues. Once every
// step was returned, executing returns the last one again (is_last), as
// the protocol's suite expects; an input sent to a task that has stopped
// cannot be delivered, and that step says so in additional_output
// ("input_not_delivered"). Which steps were returned is kept by
// Config.Cursors: in memory by default (after a restart the next call
// starts from step 1 again), in the database when nodes share the load
// (any node continues where another left off).

// msgCursorsDown answers an execute call when the step cursors cannot be
// read or written.
const msgCursorsDown = "the server cannot read which steps were returned now: try again shortly"

// apStepWait bounds how long executing a step waits for the turn.
const apStepWait = 50 * time.Second

// apStep is the protocol's Step.
type apStep struct {
	TaskID           string          `json:"task_id"`
	StepID           string          `json:"step_id"`
	Name             string          `json:"name"`
	Status           string          `json:"status"`
	Input            *string         `json:"input"`
	AdditionalInput  json.RawMessage `json:"additional_input"`
	Output           *string         `json:"output"`
	AdditionalOutput map[string]any  `json:"additional_output"`
	Artifacts        []apArtifact    `json:"artifacts"`
	IsLast           bool            `json:"is_last"`
}

type apStepList struct {
	Steps      []apStep     `json:"steps"`
	Pagination apPagination `json:"pagination"`
}

// maxCursors bounds the step cursors kept in memory (Config.Cursors
// nil); past it they start over.
const maxCursors = 100_000

// stepsDone reports whether a task of status st has stopped for good here.
func stepsDone(st bulwark.TaskStatus) bool {
	return st != bulwark.TaskQueued && st != bulwark.TaskRunning && st != bulwark.TaskWaiting
}

// buildSteps maps the stored events of task t onto protocol steps.
func buildSteps(t bulwark.Task, evs []bulwark.Event) []apStep {
	type turn struct {
		text, inputs, errors []string
		calls                []map[string]any
		files                []apArtifact
	}
	turns := map[int]*turn{}
	at := func(n int) *turn {
		if turns[n] == nil {
			turns[n] = &turn{}
		}
		return turns[n]
	}
	last := 0
	var finish *bulwark.Event
	for i := range evs {
		e := &evs[i]
		last = max(last, e.Step)
		switch e.Type {
		case bulwark.EventTaskFinished:
			finish = e
		case bulwark.EventTaskStarted:
			finish = nil // a later turn of the conversation
		case bulwark.EventModelText:
			at(e.Step).text = append(at(e.Step).text, e.Text)
		case bulwark.EventUserMessage: // read before the next turn
			at(e.Step + 1).inputs = append(at(e.Step+1).inputs, e.Text)
			finish = nil // after an end, it opened a new turn
		case bulwark.EventError:
			at(e.Step).errors = append(at(e.Step).errors, e.Text)
		case bulwark.EventToolCall:
			tu := at(e.Step)
			tu.calls = append(tu.calls, map[string]any{"tool": e.Tool, "call_id": e.CallID})
			for _, p := range writtenFiles(e.Effects) {
				tu.files = append(tu.files, toAPArtifact(bulwark.Artifact{ID: bulwark.ArtifactID(t.ID, p), Path: p}, false))
			}
		case bulwark.EventToolResult:
			if e.IsError {
				tu := at(e.Step)
				for _, c := range tu.calls {
					if c["call_id"] == e.CallID {
						c["is_error"] = true
					}
				}
			}
		}
	}
	done := finish != nil || stepsDone(t.Status)
	n := last
	if n == 0 && done {
		n = 1 // stopped before its first turn: one step saying why
	}
	steps := make([]apStep, 0, n)
	for i := 1; i <= n; i++ {
		tu := at(i)
		st := apStep{TaskID: t.ID, StepID: apStepID(i), Status: "completed", AdditionalInput: emptyObject,
			Artifacts: nonNil(tu.files), IsLast: done && i == n, AdditionalOutput: map[string]any{}}
		if !done && i == last {
			st.Status = "running"
		}
		var names []string
		for _, c := range tu.calls {
			names = append(names, c["tool"].(string))
		}
		st.Name = strings.Join(names, ", ")
		if st.Name == "" {
			st.Name = "reply"
		}
		if len(tu.inputs) > 0 {
			in := strings.Join(tu.inputs, "\n")
			st.Input = &in
		}
		out := strings.Join(tu.text, "\n")
		if len(tu.calls) > 0 {
			st.AdditionalOutput["tool_calls"] = tu.calls
		}
		if len(tu.errors) > 0 {
			st.AdditionalOutput["errors"] = tu.errors
		}
		if st.IsLast {
			st.AdditionalOutput["task_status"] = string(t.Status)
			if finish != nil {
				st.AdditionalOutput["finish_reason"] = string(finish.Reason)
				if finish.Text != "" {
					if out != "" {
						st.AdditionalOutput["model_text"] = out
					}
					out = finish.Text
				}
			}
			if len(names) == 0 && finish != nil {
				st.Name = "finish"
			}
		}
		if out != "" {
			st.Output = &out
		}
		steps = append(steps, st)
	}
	return steps
}

// taskSteps reads a task of the caller and its steps.
func (s *Server) taskSteps(r *http.Request, id string) (bulwark.Task, []apStep, error) {
	tenant := TenantFrom(r.Context())
	t, err := s.store.Task(r.Context(), tenant, id)
	if err != nil {
		return t, nil, err
	}
	if err := s.shownTasks(r.Context(), tenant, &t); err != nil {
		return t, nil, err
	}
	evs, err := s.storedEvents(r.Context(), tenant, id, 0, 0)
	if err != nil {
		return t, nil, err
	}
	return t, buildSteps(t, evs), nil
}

func (s *Server) apListSteps(w http.ResponseWriter, r *http.Request) error {
	page, size, err := apPage("server.apListSteps", r)
	if err != nil {
		return err
	}
	_, steps, err := s.taskSteps(r, r.PathValue("task_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apStepList{Steps: nonNil(pageOf(steps, page, size)), Pagination: pagination(len(steps), page, size)})
	return nil
}

func (s *Server) apGetStep(w http.ResponseWriter, r *http.Request) error {
	_, steps, err := s.taskSteps(r, r.PathValue("task_id"))
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimPrefix(r.PathValue("step_id"), "step-"))
	if err != nil || n < 1 || n > len(steps) || r.PathValue("step_id") != apStepID(n) {
		return bulwark.Errorf(bulwark.NotFound, "server.apGetStep", "no such step")
	}
	writeJSON(w, http.StatusOK, steps[n-1])
	return nil
}

// apStepRequest is the protocol's StepRequestBody.
type apStepRequest struct {
	Input           *string         `json:"input"`
	AdditionalInput json.RawMessage `json:"additional_input"`
}

// readStepRequest reads an optional step body: empty means continue.
func readStepRequest(op string, r *http.Request) (apStepRequest, error) {
	var req apStepRequest
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return req, jsonError(op, err, &req, nil)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return req, bulwark.Errorf(bulwark.Invalid, op, "send the body as JSON, with Content-Type: application/json")
	}
	if err := refuseDuplicateKeys(op, body); err != nil {
		return req, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, jsonError(op, err, &req, body)
	}
	if dec.More() {
		return req, bulwark.Errorf(bulwark.Invalid, op, "the body must hold one JSON object and nothing after it")
	}
	return req, checkAdditional(op, req.AdditionalInput)
}

// apExecuteStep answers POST /ap/v1/agent/tasks/{task_id}/steps; see the
// top of this file.
func (s *Server) apExecuteStep(w http.ResponseWriter, r *http.Request) error {
	const op = "server.apExecuteStep"
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	tenant, id := TenantFrom(r.Context()), r.PathValue("task_id")
	t, err := s.store.Task(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	req, err := readStepRequest(op, r)
	if err != nil {
		return err
	}
	undelivered := ""
	if req.Input != nil && strings.TrimSpace(*req.Input) != "" && *req.Input != t.Input {
		text, err := s.checkTask(r, op, *req.Input, "")
		if err != nil {
			return err
		}
		// Into the running turn, or, to a task that has stopped, the
		// start of a new turn of its conversation (as a message is).
		p, _ := PrincipalFrom(r.Context())
		if err := s.mayInstruct(r.Context(), p, id); err != nil {
			return err
		}
		_, _, err = rt.Message(r.Context(), tenant, p.Actor(), id, text, nil)
		if bulwark.ErrorKind(err) == bulwark.Conflict { // it cannot go on here
			undelivered = bulwark.ErrorMessage(err)
		} else if err != nil {
			return err
		} else if err := s.audit(r, audit.Record{Action: "task.message", Target: id,
			Details: map[string]string{"via": "agent-protocol", "bytes": strconv.Itoa(len(text))}}); err != nil {
			return err
		}
	}
	key := string(tenant) + "/" + id
	last, err := s.tasks.steps.Cursor(r.Context(), key)
	if err != nil {
		return bulwark.E(bulwark.Unavailable, op, msgCursorsDown, err)
	}
	want := int(last) + 1
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(apStepWait + WriteTimeout))
	step, err := s.waitStep(r, rt, id, want)
	if err != nil {
		return err
	}
	if step.Status == "completed" {
		n, _ := strconv.Atoi(strings.TrimPrefix(step.StepID, "step-"))
		if err := s.tasks.steps.Advance(r.Context(), key, int64(n)); err != nil {
			// Not answered, the step comes back at the next call.
			return bulwark.E(bulwark.Unavailable, op, msgCursorsDown, err)
		}
	}
	if undelivered != "" {
		step.AdditionalOutput["input_not_delivered"] = undelivered
	}
	writeJSON(w, http.StatusOK, step)
	return nil
}

// waitStep returns step want of a task once it is completed (or the
// last step, when the task stopped with fewer), or the running step when
// apStepWait passes first.
func (s *Server) waitStep(r *http.Request, rt Runtime, id string, want int) (apStep, error) {
	tenant := TenantFrom(r.Context())
	pick := func(steps []apStep) (apStep, bool) {
		switch {
		case len(steps) == 0:
			return apStep{}, false
		case want <= len(steps) && steps[want-1].Status == "completed":
			return steps[want-1], true
		case steps[len(steps)-1].IsLast:
			return steps[len(steps)-1], true
		}
		return steps[len(steps)-1], false
	}
	t, steps, err := s.taskSteps(r, id)
	if err != nil {
		return apStep{}, err
	}
	if st, ok := pick(steps); ok {
		return st, nil
	}
	// Wait for an event that completes the turn: one of a later turn, or
	// the end.
	var after int64
	if evs, err := s.store.Events(r.Context(), tenant, id, 0, 0); err == nil && len(evs) > 0 {
		after = evs[len(evs)-1].Seq
	}
	ch, err := s.subscribe(r.Context(), rt, tenant, id, after)
	if err != nil {
		return apStep{}, err
	}
	timeout := time.NewTimer(apStepWait)
	defer timeout.Stop()
wait:
	for {
		select {
		case e, ok := <-ch:
			// Deltas are not stored: wait for a stored event of a later turn.
			if !ok || e.Type == bulwark.EventTaskFinished || e.Step > want && !e.Type.Live() {
				break wait
			}
		case <-timeout.C:
			break wait
		case <-r.Context().Done():
			return apStep{}, r.Context().Err()
		case <-s.tasks.closing:
			break wait
		}
	}
	if t, steps, err = s.taskSteps(r, id); err != nil {
		return apStep{}, err
	}
	if st, ok := pick(steps); ok || len(steps) > 0 {
		return st, nil
	}
	// Not even one turn has begun (the task waits in the queue).
	return apStep{TaskID: t.ID, StepID: apStepID(1), Name: "queued", Status: "created", AdditionalInput: emptyObject,
		AdditionalOutput: map[string]any{"task_status": string(t.Status)}, Artifacts: []apArtifact{}}, nil
}

// writtenFiles are the workspace files a tool call declared it creates or
// changes (its effects' writes, cleaned by the tool, less what it removes).
func writtenFiles(e *bulwark.Effects) []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, p := range e.Writes {
		if p != "." && !strings.HasPrefix(p, "/") && !slices.Contains(e.Removes, p) {
			out = append(out, p)
		}
	}
	return out
}
