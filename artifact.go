package bulwark

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Artifact is one file of a task: uploaded into its workspace by a person,
// or written there by the agent. While the task is queued or running the
// file lives in the task's workspace folder; once the task stops, its
// files are sealed into the store (an ArtifactStore) and the folder is
// removed.
type Artifact struct {
	ID       string    `json:"id"` // ArtifactID(TaskID, Path)
	TaskID   string    `json:"task_id"`
	Path     string    `json:"path"`     // workspace-relative, slash-separated (see workspace.Clean)
	Size     int64     `json:"size"`     // bytes
	SHA256   string    `json:"sha256"`   // hex of the content
	Uploaded bool      `json:"uploaded"` // put there by a person, not written by the agent
	Created  time.Time `json:"created"`  // when it was stored (or last changed, for a live file)
}

// ArtifactID is the id of the file at path of task taskID: derived from
// both, so that a file keeps its id when it moves from the workspace into
// the store.
func ArtifactID(taskID, path string) string {
	h := sha256.Sum256([]byte(taskID + "\x00" + path))
	return "f_" + hex.EncodeToString(h[:10])
}

// ArtifactStore keeps the files of tasks that have stopped, each sealed
// with its tenant's data key and bound to its tenant, task and path. Like
// every store, it refuses the zero TenantID and treats another tenant's
// task as NotFound.
type ArtifactStore interface {
	// PutArtifact stores content as the file a.Path of task a.TaskID,
	// replacing the one at that path; ID, Size, SHA256 and Created are set
	// from the content. An unknown task is NotFound.
	PutArtifact(ctx context.Context, tenant TenantID, a Artifact, content []byte) (Artifact, error)
	// Artifacts returns the files stored for a task, sorted by path,
	// without their content. An unknown task is NotFound.
	Artifacts(ctx context.Context, tenant TenantID, taskID string) ([]Artifact, error)
	// ArtifactContent returns one file of a task and its content; a path
	// not stored is NotFound.
	ArtifactContent(ctx context.Context, tenant TenantID, taskID, path string) (Artifact, []byte, error)
	// ArtifactUsage returns the bytes of content stored for the tenant.
	ArtifactUsage(ctx context.Context, tenant TenantID) (int64, error)
	// DeleteArtifacts removes every file stored for a task (its files have
	// moved back into a workspace folder for a new turn). An unknown task
	// is NotFound.
	DeleteArtifacts(ctx context.Context, tenant TenantID, taskID string) error
}
