package bulwark

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"time"
)

// Checkpoints
//
// A running task commits, with each completed step (a model reply, the
// result of each tool call), what is needed to go on from that step in
// another process: the conversation is its stored events (see
// agent/history.go); the rest is a Checkpoint: the budgets the turn has
// used, its taint, and a manifest of its workspace folder whose file
// contents are blobs addressed by the SHA-256 of their content, so a file
// that did not change is not stored twice.
//
// Order of writes, which a resume relies on: the blobs of a checkpoint
// are put first, then the checkpoint, then the event that completes the
// step (Checkpoint.Seq). A checkpoint may thus be one event ahead of the
// stored events, never behind: a tool call whose result event is missing
// is reported to the model as interrupted, and the workspace is as the
// checkpoint says.

// Checkpoint is the state of a task as of one completed step.
type Checkpoint struct {
	TaskID string `json:"task_id"`
	// Seq is the seq of the event that records the step's completion
	// (a tool_result, the first event of a model reply, or the
	// task_started of a run), stored right after the checkpoint.
	Seq int64 `json:"seq"`
	// Step is the agent's step number (model turns since the task began).
	Step int `json:"step"`
	// Spent is what the current turn has used of its budgets.
	Spent Spent `json:"spent"`
	// Taint is the task's taint as of the step.
	Taint Taint `json:"taint"`
	// Files is the whole workspace folder, sorted by path: the regular
	// files a resume puts back; any other file is removed.
	Files []CheckpointFile `json:"files"`
	// Waiting, when set, is what the task waits for: its run ended there
	// so as to hold no worker while a person answers, and the next run
	// asks again (see runner's waitpark.go).
	Waiting *Waiting `json:"waiting,omitempty"`
	// Sealed: the run that committed it was cut off by a stop (its
	// process or node stopping) and then sealed its folder, as it left
	// it, into the artifact store: the task's newest files are there,
	// and a file only the checkpoint holds was removed after it, so a
	// cancel does not bring it back (see runner's settleCheckpoint). A
	// run that resumes from it clears it before its files leave the
	// artifact store; no other checkpoint has it.
	Sealed bool `json:"sealed,omitempty"`
	// Created is when the store took the checkpoint (set by PutCheckpoint).
	Created time.Time `json:"created"`
}

// Waiting is what a task whose run ended to wait for a person waits
// for: an approval, or the answer to a question.
type Waiting struct {
	Approval *Approval `json:"approval,omitempty"`
	Question string    `json:"question,omitempty"`
	// Kept are the ids of the control requests (messages) stored again
	// for the next run, which reached the task before it waited: none of
	// them is the answer to Question.
	Kept []string `json:"kept,omitempty"`
}

// Spent is what a turn of a task has used of its budgets (Limits).
type Spent struct {
	Usage   Usage         `json:"usage"`   // tokens and cost of the turn's model replies
	Steps   int           `json:"steps"`   // model turns taken in the turn
	Elapsed time.Duration `json:"elapsed"` // running time of the turn, restarts not counted
}

// Taint is what a task knows about untrusted input (see agent's taint):
// Flagged says why the task is tainted ("" while it is not); Hosts are the
// hosts fetched before the taint, which stay known.
type Taint struct {
	Flagged string   `json:"flagged,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
}

// CheckpointFile is one regular file of a checkpointed workspace.
type CheckpointFile struct {
	Path   string      `json:"path"`   // workspace-relative, slash-separated
	Mode   fs.FileMode `json:"mode"`   // permission bits only
	Size   int64       `json:"size"`   // bytes
	SHA256 string      `json:"sha256"` // BlobID of the content
}

// BlobID is the address of a blob: the lowercase hex SHA-256 of content.
func BlobID(content []byte) string {
	h := sha256.Sum256(content)
	return hex.EncodeToString(h[:])
}

// CheckpointStore keeps the last checkpoint of each task and the file
// contents it refers to: each step's checkpoint replaces the one before,
// which is all a resume needs. Blobs and checkpoints belong to one task of one
// tenant: they are sealed with the tenant's data key (bound to tenant,
// task and id or seq), are never shared between tasks or tenants, and go
// when the task is deleted. Like every store it refuses the zero TenantID
// and treats a task of another tenant as NotFound (never its data).
type CheckpointStore interface {
	// PutBlobs stores each content as a blob of task taskID under
	// BlobID(content). A blob already stored for the task is left as it
	// is (not rewritten, not an error): putting is idempotent. An unknown
	// task is NotFound.
	PutBlobs(ctx context.Context, tenant TenantID, taskID string, contents [][]byte) error
	// PutCheckpoint stores c (c.Seq > 0) as the checkpoint of task
	// c.TaskID, replacing the one it had, whatever its Seq, and sets
	// c.Created. Every file's blob must be stored for the task already: a
	// missing one is Invalid, and nothing changes. In the same transaction
	// the task's blobs that c does not refer to are deleted: after it
	// returns, the task's blobs are exactly those of c's files (a caller
	// that remembers which blobs are stored must forget the others). An
	// unknown task is NotFound.
	PutCheckpoint(ctx context.Context, tenant TenantID, c Checkpoint) error
	// LatestCheckpoint returns the task's checkpoint (the last one put);
	// NotFound when the task has none (or is unknown).
	LatestCheckpoint(ctx context.Context, tenant TenantID, taskID string) (Checkpoint, error)
	// Blob returns the content stored for the task under id; NotFound
	// when there is none. The content is checked against id.
	Blob(ctx context.Context, tenant TenantID, taskID, id string) ([]byte, error)
	// DeleteCheckpoint removes the task's checkpoint and all its blobs
	// (its turn has ended: nothing is left to resume). A task without
	// them is not an error; an unknown task is NotFound.
	DeleteCheckpoint(ctx context.Context, tenant TenantID, taskID string) error
}
