package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestCheckpointNeverHoldsAHalfWrittenUpload: a step's checkpoint taken
// while an upload writes a new file into the folder (workspace.WriteFile
// writes a new file in place) holds the file whole or not at all, never
// a prefix that a resume after a crash would put back.
func TestCheckpointNeverHoldsAHalfWrittenUpload(t *testing.T) {
	rt, _, task, dir := newCheckpointTest(t)
	ctx := context.Background()
	l := &live{task: task, uploads: map[string]bool{}, cancel: func(error) {}}
	rt.mu.Lock()
	rt.tasks[key{bulwark.TenantID(task.TenantID), task.ID}] = l // held here: uploads go through l.files
	rt.mu.Unlock()
	_, hook, done, err := rt.checkpoints(ctx, l, dir, nil, func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	data := bytes.Repeat([]byte("u"), 4<<20)
	seq := int64(1)
	for round := range 10 {
		name := fmt.Sprintf("up%d.bin", round)
		uploaded := make(chan struct{})
		go func() {
			defer close(uploaded)
			if _, err := rt.PutFile(ctx, bulwark.TenantID(task.TenantID), task.ID, name, data); err != nil {
				t.Error(err)
			}
		}()
		for busy := true; busy; {
			select {
			case <-uploaded:
				busy = false
			default:
			}
			seq++
			hook(bulwark.Checkpoint{Seq: seq, Step: int(seq)})
			c, err := rt.cfg.Checkpoints.LatestCheckpoint(ctx, bulwark.TenantID(task.TenantID), task.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range c.Files {
				if f.Path == name && f.Size != int64(len(data)) {
					t.Fatalf("checkpoint %d holds %s with %d of its %d bytes", c.Seq, name, f.Size, len(data))
				}
			}
		}
		os.Remove(filepath.Join(dir, name)) // keeps the next checkpoints quick
	}
}
