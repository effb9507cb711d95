package bulwark

import "time"

// Limits are the budgets of one task. A zero field means the default; see
// DefaultLimits.
type Limits struct {
	MaxSteps    int           `json:"max_steps,omitempty"`    // model turns
	MaxTokens   int           `json:"max_tokens,omitempty"`   // input+output tokens over the task
	MaxCost     float64       `json:"max_cost,omitempty"`     // US dollars, where the provider reports cost
	MaxDuration time.Duration `json:"max_duration,omitempty"` // wall time
	MaxOutput   int           `json:"max_output,omitempty"`   // bytes of one tool result given to the model
}

// DefaultLimits are the budgets used where a task sets none.
var DefaultLimits = Limits{
	MaxSteps:    50,
	MaxTokens:   2_000_000,
	MaxDuration: 30 * time.Minute,
	MaxOutput:   16 << 10,
}

// WithDefaults returns l with every zero field taken from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits
	if l.MaxSteps > 0 {
		d.MaxSteps = l.MaxSteps
	}
	if l.MaxTokens > 0 {
		d.MaxTokens = l.MaxTokens
	}
	if l.MaxCost > 0 {
		d.MaxCost = l.MaxCost
	}
	if l.MaxDuration > 0 {
		d.MaxDuration = l.MaxDuration
	}
	if l.MaxOutput > 0 {
		d.MaxOutput = l.MaxOutput
	}
	return d
}

// TaskStatus is where a task is in its life.
type TaskStatus string

const (
	TaskQueued      TaskStatus = "queued"
	TaskRunning     TaskStatus = "running"
	TaskWaiting     TaskStatus = "waiting" // for an approval or an answer
	TaskSucceeded   TaskStatus = "succeeded"
	TaskFailed      TaskStatus = "failed"
	TaskCanceled    TaskStatus = "canceled"
	TaskInterrupted TaskStatus = "interrupted"
)

// Task is one piece of work given to an agent.
type Task struct {
	ID       string       `json:"id"`
	TenantID string       `json:"tenant_id,omitempty"`
	Input    string       `json:"input"`
	Model    string       `json:"model"`
	Status   TaskStatus   `json:"status"`
	Limits   Limits       `json:"limits"`
	Created  time.Time    `json:"created"`
	Answer   string       `json:"answer,omitempty"`
	Reason   FinishReason `json:"reason,omitempty"`
	// Usage is what the task's model calls consumed so far; Started and
	// Finished are when it first started and last ended (zero: not yet).
	// The store keeps them from the task's events.
	Usage    Usage     `json:"usage"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Turns counts the runs of the task's conversation: 1 for a new task,
	// one more for each message that continued it after it stopped (see
	// TaskStatus.Continuable). More than one: the task is a conversation.
	Turns int `json:"turns"`
	// ParentID names the task whose agent started this one with the
	// delegate tool (a sub-agent); empty for a task a person started.
	ParentID string `json:"parent_id,omitempty"`
	// ScheduleID is the schedule that started the task, if one did.
	ScheduleID string `json:"schedule_id,omitempty"`
	// CreatedBy is the id of the user who created the task (for a
	// sub-agent: its parent's; for a scheduled task: the schedule's owner);
	// empty for the CLI's local tenant and API keys not tied to a user.
	// The task's private memories (scope "user") are that user's.
	CreatedBy string `json:"created_by,omitempty"`
}

// Mask passes what t shows through mask (a redactor's String): its input
// and answer. The task is changed in place.
func (t *Task) Mask(mask func(string) string) {
	t.Input = mask(t.Input)
	t.Answer = mask(t.Answer)
}
