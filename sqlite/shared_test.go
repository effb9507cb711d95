package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestTwoOpenersWriteAtOnce: two stores on one database file, each with
// its own connections as the server and the CLI have, write tasks and
// events at once; no write fails for the other's lock, and each reads
// what the other wrote.
func TestTwoOpenersWriteAtOnce(t *testing.T) {
	f := newFolder(t)
	server, cli := f.open(t), f.open(t)
	ctx := context.Background()
	tenant, err := server.LocalTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const perStore = 20
	var wg sync.WaitGroup
	for name, db := range map[string]*DB{"server": server, "cli": cli} {
		wg.Go(func() {
			for i := range perStore {
				task, err := db.CreateTask(ctx, tenant.ID, bulwark.Task{Input: fmt.Sprintf("%s %d", name, i), Model: "replay:x", Status: bulwark.TaskRunning})
				if err != nil {
					t.Errorf("%s: CreateTask: %v", name, err)
					return
				}
				for seq := range int64(3) {
					e := bulwark.Event{Seq: seq + 1, TaskID: task.ID, Time: time.Now(), Type: bulwark.EventModelText, Text: "step"}
					if seq == 2 {
						e.Type, e.Reason, e.Text = bulwark.EventTaskFinished, bulwark.FinishDone, "ok"
					}
					if err := db.AppendEvent(ctx, tenant.ID, e); err != nil {
						t.Errorf("%s: AppendEvent: %v", name, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for name, db := range map[string]*DB{"server": server, "cli": cli} {
		page, err := db.QueryTasks(ctx, tenant.ID, bulwark.TaskQuery{Limit: 100, Status: []bulwark.TaskStatus{bulwark.TaskSucceeded}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Tasks) != 2*perStore {
			t.Errorf("%s lists %d succeeded tasks, want %d (its own and the other's)", name, len(page.Tasks), 2*perStore)
		}
	}
}
