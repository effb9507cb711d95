package sqlite

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// canaries are values that must never be found in the data folder's bytes.
var canaries = []string{
	"CANARY-secret-value-7f3a9c",
	"CANARY-task-input-51be02",
	"CANARY-model-text-a09f11",
	"CANARY-tool-args-33d0c4",
	"CANARY-tool-output-e8812b",
	"CANARY-final-answer-4c6d2e",
	"CANARY-user-message-90aa17",
}

// TestNothingInTheClear stores tasks, events and secrets holding the
// canaries, then reads every file of the data folder as raw bytes (the
// database and its -wal and -shm files, while the store is open and after
// it is closed) and finds none of them.
func TestNothingInTheClear(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	tn, err := db.LocalTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetSecret(ctx, tn.ID, "API_KEY", canaries[0]); err != nil {
		t.Fatal(err)
	}
	args, _ := json.Marshal(map[string]string{"content": canaries[3]})
	for i := range 3 { // several tasks, so pages are written, freed and reused
		task, err := db.CreateTask(ctx, tn.ID, bulwark.Task{Input: canaries[1], Model: "replay:x"})
		if err != nil {
			t.Fatal(err)
		}
		rec := bulwark.NewRecorder(ctx, db, tn.ID, task.ID)
		for j, e := range []bulwark.Event{
			{Type: bulwark.EventTaskStarted, Text: canaries[1]},
			{Type: bulwark.EventModelText, Text: canaries[2]},
			{Type: bulwark.EventToolCall, Tool: "write_file", Args: args},
			{Type: bulwark.EventToolResult, Tool: "write_file", Text: canaries[4]},
			{Type: bulwark.EventUserMessage, Text: canaries[6]},
			{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: canaries[5]},
		} {
			e.Seq = int64(j + 1)
			rec.Record(e)
		}
		if err := rec.Err(); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := db.SetSecret(ctx, tn.ID, "API_KEY", canaries[0]+"-2"); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The values do come back through the store...
	vals, err := db.SecretValues(ctx, tn.ID)
	if err != nil || vals["API_KEY"] != canaries[0]+"-2" {
		t.Fatalf("SecretValues = %v, %v", vals, err)
	}
	// ...but are nowhere in the files, open or closed.
	checked := scanFolder(t, f.dir, canaries...)
	if !checked["bulwark.db-wal"] {
		t.Errorf("no -wal file was checked while the store was open (files: %v)", checked)
	}
	db.Close()
	scanFolder(t, f.dir, canaries...)
}

// scanFolder fails the test if a file under dir holds one of the canaries,
// raw or in base64 or JSON-escaped, and returns the names of the files it
// read.
func scanFolder(t *testing.T, dir string, canaries ...string) map[string]bool {
	t.Helper()
	var needles [][]byte
	for _, c := range canaries {
		q, _ := json.Marshal(c)
		needles = append(needles, []byte(c), q[1:len(q)-1], []byte(base64.StdEncoding.EncodeToString([]byte(c)))[:len(c)])
	}
	checked := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked[d.Name()] = true
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds %q in the clear", d.Name(), n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return checked
}
