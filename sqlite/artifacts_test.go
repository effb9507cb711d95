package sqlite

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

const artifactCanary = "CANARY-artifact-content-6b1f0e"

func TestArtifacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	task, err := db.CreateTask(ctx, a, bulwark.Task{Input: "x"})
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("the report: " + artifactCanary)
	got, err := db.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: "out/report.txt", Uploaded: true}, content)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != bulwark.ArtifactID(task.ID, "out/report.txt") || got.Size != int64(len(content)) || len(got.SHA256) != 64 {
		t.Errorf("PutArtifact = %+v", got)
	}
	if _, err := db.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: "b.txt"}, []byte("B")); err != nil {
		t.Fatal(err)
	}
	// Replacing a path keeps one file.
	if _, err := db.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: "b.txt"}, []byte("BB")); err != nil {
		t.Fatal(err)
	}
	list, err := db.Artifacts(ctx, a, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Path != "b.txt" || list[0].Size != 2 || list[1].Path != "out/report.txt" || !list[1].Uploaded {
		t.Errorf("Artifacts = %+v, want b.txt (2 bytes) and out/report.txt (uploaded)", list)
	}
	meta, data, err := db.ArtifactContent(ctx, a, task.ID, "out/report.txt")
	if err != nil || !bytes.Equal(data, content) || meta.SHA256 != got.SHA256 {
		t.Errorf("ArtifactContent = %+v, %q, %v", meta, data, err)
	}
	if n, err := db.ArtifactUsage(ctx, a); err != nil || n != int64(len(content))+2 {
		t.Errorf("ArtifactUsage = %d, %v, want %d", n, err, len(content)+2)
	}
	// Tenant B sees nothing of A's.
	if _, err := db.Artifacts(ctx, b, task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Artifacts by another tenant: %v, want not found", err)
	}
	if _, _, err := db.ArtifactContent(ctx, b, task.ID, "out/report.txt"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("ArtifactContent by another tenant: %v, want not found", err)
	}
	if _, err := db.PutArtifact(ctx, b, bulwark.Artifact{TaskID: task.ID, Path: "x.txt"}, []byte("x")); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("PutArtifact into another tenant's task: %v, want not found", err)
	}
	if _, _, err := db.ArtifactContent(ctx, a, task.ID, "missing.txt"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("ArtifactContent of a missing path: %v, want not found", err)
	}
	for _, p := range []string{"", "/etc/passwd", "../x", "a/../../b", "a\x00b"} {
		if _, err := db.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: p}, []byte("x")); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("PutArtifact(path %q) = %v, want invalid", p, err)
		}
	}
	// Content moved onto another file's row does not open.
	if _, err := db.w.ExecContext(ctx, `UPDATE artifacts SET content_ct = (SELECT content_ct FROM artifacts WHERE id = ?) WHERE id = ?`,
		got.ID, bulwark.ArtifactID(task.ID, "b.txt")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := db.ArtifactContent(ctx, a, task.ID, "b.txt"); bulwark.ErrorKind(err) != bulwark.Internal || bytes.Contains(data, []byte(artifactCanary)) {
		t.Errorf("moved content: %q, %v; want an internal error and no data", data, err)
	}
	// Neither the content nor the path is in the clear.
	scanFolder(t, f.dir, artifactCanary, "out/report.txt")
}

func TestQueryTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 7 {
		task, err := db.CreateTask(ctx, a, bulwark.Task{Input: "x", Created: base.Add(time.Duration(i%3) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := db.SetTaskStatus(ctx, a, task.ID, bulwark.TaskRunning); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.CreateTask(ctx, b, bulwark.Task{Input: "b's"}); err != nil {
		t.Fatal(err)
	}
	// Walk with a cursor, two at a time: every task once, newest first.
	var seen []bulwark.Task
	q := bulwark.TaskQuery{Limit: 2, Count: true}
	for {
		page, err := db.QueryTasks(ctx, a, q)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 7 {
			t.Errorf("Total = %d, want 7", page.Total)
		}
		seen = append(seen, page.Tasks...)
		if !page.More {
			break
		}
		last := page.Tasks[len(page.Tasks)-1]
		q.Before = &bulwark.TaskCursor{Created: last.Created, ID: last.ID}
	}
	if len(seen) != 7 {
		t.Fatalf("walked %d tasks, want 7", len(seen))
	}
	uniq := map[string]bool{}
	for i, task := range seen {
		uniq[task.ID] = true
		if i > 0 && seen[i-1].Created.Before(task.Created) {
			t.Errorf("task %d is newer than the one before it", i)
		}
	}
	if len(uniq) != 7 {
		t.Errorf("walked %d distinct tasks, want 7", len(uniq))
	}
	// Offsets and status filters.
	page, err := db.QueryTasks(ctx, a, bulwark.TaskQuery{Limit: 3, Offset: 3})
	if err != nil || len(page.Tasks) != 3 || page.Tasks[0].ID != seen[3].ID || !page.More {
		t.Errorf("offset 3: %+v, %v", page, err)
	}
	page, err = db.QueryTasks(ctx, a, bulwark.TaskQuery{Status: []bulwark.TaskStatus{bulwark.TaskRunning}, Count: true})
	if err != nil || len(page.Tasks) != 4 || page.Total != 4 {
		t.Errorf("running: %d tasks, total %d, %v; want 4", len(page.Tasks), page.Total, err)
	}
	if _, err := db.QueryTasks(ctx, "", bulwark.TaskQuery{}); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("QueryTasks without a tenant: %v, want invalid", err)
	}
}
