package storetest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

const (
	checkpointCanary     = "CANARY-checkpoint-file-5d1e77"
	checkpointPathCanary = "CANARY-checkpoint-path-0b93c4"
)

// manifest is the checkpoint manifest of files (path: content), in the
// order of paths, and the contents to put as blobs.
func manifest(paths []string, files map[string]string) ([]bulwark.CheckpointFile, [][]byte) {
	var out []bulwark.CheckpointFile
	var contents [][]byte
	for _, p := range paths {
		c, ok := files[p]
		if !ok {
			continue
		}
		out = append(out, bulwark.CheckpointFile{Path: p, Mode: 0o644, Size: int64(len(c)), SHA256: bulwark.BlobID([]byte(c))})
		contents = append(contents, []byte(c))
	}
	return out, contents
}

// checkBlobs fails the test unless exactly the contents of want, among
// every content of all, are stored as blobs of the task.
func checkBlobs(t *testing.T, s Store, tenant bulwark.TenantID, taskID, when string, all []string, want ...string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range all {
		data, err := s.Blob(ctx, tenant, taskID, bulwark.BlobID([]byte(c)))
		switch {
		case slices.Contains(want, c) && (err != nil || string(data) != c):
			t.Errorf("%s: Blob(%q) = %q, %v; want it stored", when, c, data, err)
		case !slices.Contains(want, c) && !kindIs(err, bulwark.NotFound):
			t.Errorf("%s: Blob(%q) = %q, %v; want NotFound", when, c, data, err)
		}
	}
}

// testCheckpoints: blobs are stored once per content and putting them
// again is no error; a checkpoint replaces the one before, and the blobs
// only that one needed go with it; it comes back whole; a checkpoint
// naming content not stored is refused and changes nothing; deleting
// drops everything; content and paths are sealed at rest.
func testCheckpoints(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a := mustTenant(t, s, "a")
	task := mustTask(t, s, a, bulwark.Task{Input: "x"})
	if _, err := s.LatestCheckpoint(ctx, a, task.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("LatestCheckpoint of a task without one: %v, want NotFound", err)
	}
	secretPath := checkpointPathCanary + "/notes.md"
	paths := []string{"a.txt", "b.txt", secretPath}
	notes := "notes " + checkpointCanary
	all := []string{"A", "B", "B changed", notes}

	step1 := map[string]string{"a.txt": "A", "b.txt": "B", secretPath: notes}
	files, contents := manifest(paths, step1)
	if err := s.PutBlobs(ctx, a, task.ID, contents); err != nil {
		t.Fatal(err)
	}
	// Putting is idempotent, duplicates within one call included.
	if err := s.PutBlobs(ctx, a, task.ID, append(contents, contents[0])); err != nil {
		t.Errorf("PutBlobs of blobs already stored: %v", err)
	}
	if err := s.PutBlobs(ctx, a, task.ID, nil); err != nil {
		t.Errorf("PutBlobs of nothing: %v", err)
	}
	checkBlobs(t, s, a, task.ID, "after PutBlobs", all, "A", "B", notes)
	c1 := bulwark.Checkpoint{TaskID: task.ID, Seq: 4, Step: 1, Files: files,
		Spent: bulwark.Spent{Usage: bulwark.Usage{InputTokens: 10, OutputTokens: 5, Cost: 0.5}, Steps: 1, Elapsed: 3 * time.Second},
		Taint: bulwark.Taint{Flagged: "injection", Hosts: []string{"example.com"}}}
	if err := s.PutCheckpoint(ctx, a, c1); err != nil {
		t.Fatal(err)
	}
	checkBlobs(t, s, a, task.ID, "after the first checkpoint", all, "A", "B", notes)

	// The second step changed one file: one new blob.
	step2 := map[string]string{"a.txt": "A", "b.txt": "B changed", secretPath: notes}
	files2, contents2 := manifest(paths, step2)
	if err := s.PutBlobs(ctx, a, task.ID, contents2); err != nil {
		t.Fatal(err)
	}
	c2 := c1
	c2.Seq, c2.Step, c2.Files, c2.Sealed = 7, 2, files2, true
	if err := s.PutCheckpoint(ctx, a, c2); err != nil {
		t.Fatal(err)
	}
	// It replaced the first, whose blob of the old b.txt went with it.
	checkBlobs(t, s, a, task.ID, "after a second checkpoint with one changed file", all, "A", "B changed", notes)
	got, err := s.LatestCheckpoint(ctx, a, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TaskID != task.ID || got.Seq != 7 || got.Step != 2 || !slices.Equal(got.Files, files2) ||
		got.Spent != c1.Spent || got.Taint.Flagged != "injection" || !slices.Equal(got.Taint.Hosts, []string{"example.com"}) || got.Created.IsZero() || !got.Sealed {
		t.Errorf("LatestCheckpoint = %+v, want the one at seq 7, marked sealed", got)
	}

	// A checkpoint naming content not stored is refused, whole.
	bad := c2
	bad.Seq = 9
	bad.Files = slices.Clone(files2)
	bad.Files[0].SHA256 = bulwark.BlobID([]byte("never stored"))
	if err := s.PutCheckpoint(ctx, a, bad); !kindIs(err, bulwark.Invalid) {
		t.Errorf("PutCheckpoint with a missing blob = %v, want Invalid", err)
	}
	if got, err := s.LatestCheckpoint(ctx, a, task.ID); err != nil || got.Seq != 7 {
		t.Errorf("after a refused checkpoint the latest is %+v, %v; want the one at seq 7", got, err)
	}
	checkBlobs(t, s, a, task.ID, "after a refused checkpoint", all, "A", "B changed", notes)

	// A checkpoint replaces the one before whatever its seq.
	c3 := c2
	c3.Seq, c3.Files = 2, files2[:1]
	if err := s.PutCheckpoint(ctx, a, c3); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LatestCheckpoint(ctx, a, task.ID); err != nil || got.Seq != 2 || len(got.Files) != 1 {
		t.Errorf("after a checkpoint at an earlier seq the latest is %+v, %v; want the one at seq 2", got, err)
	}
	checkBlobs(t, s, a, task.ID, "after a checkpoint of one file", all, "A")

	// Sealed at rest: the content and the path are nowhere in the clear.
	if h, ok := s.(Harness); ok {
		if err := s.PutBlobs(ctx, a, task.ID, contents2); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCheckpoint(ctx, a, c2); err != nil {
			t.Fatal(err)
		}
		dump := h.Dump(t)
		for _, n := range []string{checkpointCanary, checkpointPathCanary, hexOf(checkpointCanary), hexOf(checkpointPathCanary)} {
			if bytes.Contains(dump, []byte(n)) {
				t.Errorf("the store holds %q in the clear", n)
			}
		}
	}

	// Deleting drops the checkpoint and every blob; again is no error.
	if err := s.DeleteCheckpoint(ctx, a, task.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LatestCheckpoint(ctx, a, task.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("LatestCheckpoint after DeleteCheckpoint: %v, want NotFound", err)
	}
	checkBlobs(t, s, a, task.ID, "after DeleteCheckpoint", all)
	if err := s.DeleteCheckpoint(ctx, a, task.ID); err != nil {
		t.Errorf("DeleteCheckpoint of a task without one: %v", err)
	}
}

// testCheckpointErrors: the Invalid and NotFound cases of CheckpointStore.
func testCheckpointErrors(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a := mustTenant(t, s, "a")
	task := mustTask(t, s, a, bulwark.Task{Input: "x"})
	id := bulwark.BlobID([]byte("x"))
	if err := s.PutBlobs(ctx, a, task.ID, [][]byte{[]byte("x")}); err != nil {
		t.Fatal(err)
	}
	good := bulwark.CheckpointFile{Path: "x.txt", Mode: 0o644, Size: 1, SHA256: id}
	for _, c := range []bulwark.Checkpoint{
		{TaskID: task.ID, Seq: 0, Files: []bulwark.CheckpointFile{good}},
		{TaskID: task.ID, Seq: -1},
		{TaskID: "", Seq: 1},
		{TaskID: task.ID, Seq: 1, Files: []bulwark.CheckpointFile{{Path: "../x", SHA256: id}}},
		{TaskID: task.ID, Seq: 1, Files: []bulwark.CheckpointFile{{Path: "/etc/passwd", SHA256: id}}},
		{TaskID: task.ID, Seq: 1, Files: []bulwark.CheckpointFile{{Path: "x.txt", SHA256: "not-a-sum"}}},
		{TaskID: task.ID, Seq: 1, Files: []bulwark.CheckpointFile{{Path: "x.txt", SHA256: "ABCDEF" + id[6:]}}},
	} {
		if err := s.PutCheckpoint(ctx, a, c); !kindIs(err, bulwark.Invalid) {
			t.Errorf("PutCheckpoint(%+v) = %v, want Invalid", c, err)
		}
	}
	if _, err := s.LatestCheckpoint(ctx, a, task.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("after refused checkpoints LatestCheckpoint = %v, want NotFound", err)
	}
	for _, bad := range []string{"", "../x", id[:10], "ABCDEF" + id[6:], id + "0"} {
		if _, err := s.Blob(ctx, a, task.ID, bad); !kindIs(err, bulwark.Invalid) {
			t.Errorf("Blob(%q) = %v, want Invalid", bad, err)
		}
	}
	if _, err := s.Blob(ctx, a, task.ID, bulwark.BlobID([]byte("y"))); !kindIs(err, bulwark.NotFound) {
		t.Errorf("Blob of content never put = %v, want NotFound", err)
	}
	// An unknown task.
	const nosuch = "t_nosuch"
	if err := s.PutBlobs(ctx, a, nosuch, [][]byte{[]byte("x")}); !kindIs(err, bulwark.NotFound) {
		t.Errorf("PutBlobs into an unknown task: %v, want NotFound", err)
	}
	if err := s.PutCheckpoint(ctx, a, bulwark.Checkpoint{TaskID: nosuch, Seq: 1}); !kindIs(err, bulwark.NotFound) {
		t.Errorf("PutCheckpoint of an unknown task: %v, want NotFound", err)
	}
	if _, err := s.LatestCheckpoint(ctx, a, nosuch); !kindIs(err, bulwark.NotFound) {
		t.Errorf("LatestCheckpoint of an unknown task: %v, want NotFound", err)
	}
	if _, err := s.Blob(ctx, a, nosuch, id); !kindIs(err, bulwark.NotFound) {
		t.Errorf("Blob of an unknown task: %v, want NotFound", err)
	}
	if err := s.DeleteCheckpoint(ctx, a, nosuch); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteCheckpoint of an unknown task: %v, want NotFound", err)
	}
	// Blobs belong to one task: another task of the tenant has none.
	other := mustTask(t, s, a, bulwark.Task{Input: "y"})
	if _, err := s.Blob(ctx, a, other.ID, id); !kindIs(err, bulwark.NotFound) {
		t.Errorf("Blob of another task of the tenant: %v, want NotFound", err)
	}
	if err := s.PutCheckpoint(ctx, a, bulwark.Checkpoint{TaskID: other.ID, Seq: 1, Files: []bulwark.CheckpointFile{good}}); !kindIs(err, bulwark.Invalid) {
		t.Errorf("PutCheckpoint naming another task's blob: %v, want Invalid", err)
	}
	// An empty file is a blob.
	if err := s.PutBlobs(ctx, a, task.ID, [][]byte{{}}); err != nil {
		t.Fatal(err)
	}
	if data, err := s.Blob(ctx, a, task.ID, bulwark.BlobID(nil)); err != nil || len(data) != 0 {
		t.Errorf("Blob(empty) = %q, %v", data, err)
	}
}

// testCheckpointsCrossTenant: another tenant reaches nothing of a task's
// checkpoint, changes nothing, and learns nothing but NotFound.
func testCheckpointsCrossTenant(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	task := mustTask(t, s, a, bulwark.Task{Input: "x"})
	content := []byte("a's file " + checkpointCanary)
	id := bulwark.BlobID(content)
	if err := s.PutBlobs(ctx, a, task.ID, [][]byte{content}); err != nil {
		t.Fatal(err)
	}
	c := bulwark.Checkpoint{TaskID: task.ID, Seq: 3, Step: 1, Files: []bulwark.CheckpointFile{{Path: "f.txt", Mode: 0o600, Size: int64(len(content)), SHA256: id}}}
	if err := s.PutCheckpoint(ctx, a, c); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LatestCheckpoint(ctx, b, task.ID); !kindIs(err, bulwark.NotFound) || got.TaskID != "" {
		t.Errorf("LatestCheckpoint by another tenant: %+v, %v; want NotFound", got, err)
	}
	if data, err := s.Blob(ctx, b, task.ID, id); !kindIs(err, bulwark.NotFound) || data != nil {
		t.Errorf("Blob by another tenant: %q, %v; want NotFound", data, err)
	}
	if err := s.PutBlobs(ctx, b, task.ID, [][]byte{[]byte("planted")}); !kindIs(err, bulwark.NotFound) {
		t.Errorf("PutBlobs into another tenant's task: %v, want NotFound", err)
	}
	if err := s.PutCheckpoint(ctx, b, bulwark.Checkpoint{TaskID: task.ID, Seq: 20}); !kindIs(err, bulwark.NotFound) {
		t.Errorf("PutCheckpoint into another tenant's task: %v, want NotFound", err)
	}
	if err := s.DeleteCheckpoint(ctx, b, task.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteCheckpoint of another tenant's task: %v, want NotFound", err)
	}
	// A's checkpoint and blob are as they were.
	if got, err := s.LatestCheckpoint(ctx, a, task.ID); err != nil || got.Seq != 3 || len(got.Files) != 1 {
		t.Errorf("after another tenant's attempts LatestCheckpoint = %+v, %v; want the one at seq 3", got, err)
	}
	if data, err := s.Blob(ctx, a, task.ID, id); err != nil || !bytes.Equal(data, content) {
		t.Errorf("after another tenant's attempts Blob = %q, %v", data, err)
	}
	if _, err := s.Blob(ctx, a, task.ID, bulwark.BlobID([]byte("planted"))); !kindIs(err, bulwark.NotFound) {
		t.Errorf("a blob another tenant tried to plant: %v, want NotFound", err)
	}
}

// testCheckpointMoved: sealed checkpoint parts moved in the database, onto
// another blob id, another task or another tenant's task, do not open: an
// Internal error without the content, never the other record's data.
func testCheckpointMoved(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	h := harness(t, open(t))
	a, b := mustTenant(t, h, "a"), mustTenant(t, h, "b")
	t1 := mustTask(t, h, a, bulwark.Task{Input: "x"})
	t2 := mustTask(t, h, a, bulwark.Task{Input: "y"})
	tb := mustTask(t, h, b, bulwark.Task{Input: "z"})
	secretFile, public := []byte("secret "+checkpointCanary), []byte("public")
	put := func(tenant bulwark.TenantID, taskID string, seq int64, path string, content []byte) {
		t.Helper()
		if err := h.PutBlobs(ctx, tenant, taskID, [][]byte{content}); err != nil {
			t.Fatal(err)
		}
		f := bulwark.CheckpointFile{Path: path, Mode: 0o644, Size: int64(len(content)), SHA256: bulwark.BlobID(content)}
		if err := h.PutCheckpoint(ctx, tenant, bulwark.Checkpoint{TaskID: taskID, Seq: seq, Files: []bulwark.CheckpointFile{f}}); err != nil {
			t.Fatal(err)
		}
	}
	put(a, t1.ID, 5, "secret/"+checkpointPathCanary, secretFile)
	put(a, t2.ID, 5, "public.txt", public)
	put(b, tb.ID, 5, "public.txt", public)

	// A blob moved onto another id of its task.
	if err := h.PutBlobs(ctx, a, t1.ID, [][]byte{public}); err != nil {
		t.Fatal(err)
	}
	h.Exec(t, `UPDATE checkpoint_blobs SET content_ct = (SELECT content_ct FROM checkpoint_blobs WHERE task_id = ? AND id = ?) WHERE task_id = ? AND id = ?`,
		t1.ID, bulwark.BlobID(secretFile), t1.ID, bulwark.BlobID(public))
	data, err := h.Blob(ctx, a, t1.ID, bulwark.BlobID(public))
	checkDoesNotOpen(t, "a blob moved onto another id", data, err, checkpointCanary)
	// A blob moved to the same id of another task, and of another tenant's.
	h.Exec(t, `UPDATE checkpoint_blobs SET content_ct = (SELECT content_ct FROM checkpoint_blobs WHERE task_id = ? AND id = ?) WHERE task_id = ? AND id = ?`,
		t1.ID, bulwark.BlobID(secretFile), t2.ID, bulwark.BlobID(public))
	data, err = h.Blob(ctx, a, t2.ID, bulwark.BlobID(public))
	checkDoesNotOpen(t, "a blob moved to another task", data, err, checkpointCanary)
	h.Exec(t, `UPDATE checkpoint_blobs SET content_ct = (SELECT content_ct FROM checkpoint_blobs WHERE task_id = ? AND id = ?) WHERE task_id = ? AND id = ?`,
		t1.ID, bulwark.BlobID(secretFile), tb.ID, bulwark.BlobID(public))
	data, err = h.Blob(ctx, b, tb.ID, bulwark.BlobID(public))
	checkDoesNotOpen(t, "a blob moved to another tenant's task", data, err, checkpointCanary)

	// A checkpoint moved to another task, and to another tenant's task.
	h.Exec(t, `UPDATE checkpoints SET state_ct = (SELECT state_ct FROM checkpoints WHERE task_id = ?) WHERE task_id = ?`, t1.ID, t2.ID)
	c, err := h.LatestCheckpoint(ctx, a, t2.ID)
	checkDoesNotOpen(t, "a checkpoint moved to another task", c, err, checkpointPathCanary)
	h.Exec(t, `UPDATE checkpoints SET state_ct = (SELECT state_ct FROM checkpoints WHERE task_id = ?) WHERE task_id = ?`, t1.ID, tb.ID)
	c, err = h.LatestCheckpoint(ctx, b, tb.ID)
	checkDoesNotOpen(t, "a checkpoint moved to another tenant's task", c, err, checkpointPathCanary)
	// A checkpoint moved to another seq of its task.
	h.Exec(t, `UPDATE checkpoints SET seq = 6 WHERE task_id = ?`, t1.ID)
	c, err = h.LatestCheckpoint(ctx, a, t1.ID)
	checkDoesNotOpen(t, "a checkpoint moved to another seq", c, err, checkpointPathCanary)
}
