package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestMemoriesNothingInTheClear writes memories holding canaries (in the
// text, the tags, and as single words the full-text index would hold),
// edits and deletes some so that index pages are rewritten, searches, and
// then reads every byte of the data folder (database, -wal, -shm; open and
// closed): no canary, no lowercased word of one, anywhere.
func TestMemoriesNothingInTheClear(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	tn, err := db.LocalTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const text, tag, word = "CANARY-memory-text-6b1e", "CANARY-memory-tag-77c2", "quetzalcanary"
	var ids []string
	for i := range 20 {
		m, err := db.AddMemory(ctx, tn.ID, bulwark.Memory{Text: text + " remembers the " + word + strings.Repeat(" filler", i), Tags: []string{tag}, User: "u_1", Tainted: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	for _, id := range ids[:5] {
		if _, err := db.UpdateMemory(ctx, tn.ID, bulwark.Memory{ID: id, Text: "edited " + word + " " + text, Tags: []string{tag}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[15:] {
		if err := db.DeleteMemory(ctx, tn.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	found, err := db.FindMemories(ctx, tn.ID, bulwark.MemoryQuery{Text: word, User: "u_1", Limit: 100})
	if err != nil || len(found) != 15 {
		t.Fatalf("FindMemories(%q) = %d memories, %v; want 15", word, len(found), err)
	}
	needles := []string{text, tag, word, strings.ToLower(text), strings.ToLower(tag), "memory-text-6b1e", "memory-tag-77c2"}
	checked := scanFolder(t, f.dir, needles...)
	if !checked["bulwark.db-wal"] {
		t.Errorf("no -wal file was checked while the store was open (files: %v)", checked)
	}
	db.Close()
	scanFolder(t, f.dir, needles...)
}
