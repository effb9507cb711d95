package storetest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testMemories: a memory is kept, read, edited and deleted; the best match
// comes first; private memories reach their user only; another tenant's
// are NotFound and never found; bad ones are Invalid; the text, tags and
// words are nowhere in the clear, not even in the search index; a row
// whose taint or user is changed behind the store's back does not open.
func testMemories(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	const canary = "zebracanary4711"
	add := func(tenant bulwark.TenantID, m bulwark.Memory) bulwark.Memory {
		t.Helper()
		got, err := s.AddMemory(ctx, tenant, m)
		if err != nil {
			t.Fatalf("AddMemory(%+v): %v", m, err)
		}
		return got
	}
	deploy := add(a, bulwark.Memory{Text: "The deploy script lives in ops/deploy.sh; run it with " + canary, Tags: []string{"ops", "tagcanary4712"}})
	add(a, bulwark.Memory{Text: "Deploy deploy deploy: the deploy window is Friday, deploy from the release branch"})
	add(a, bulwark.Memory{Text: "The coffee machine is on the second floor", User: "u_alice"})
	bobs := add(a, bulwark.Memory{Text: "Bob's private coffee note", User: "u_bob", Tainted: true, TaskID: "t_1"})
	add(b, bulwark.Memory{Text: "tenant b also has a deploy note and coffee"})

	got, err := s.Memory(ctx, a, deploy.ID)
	if err != nil || got.Text != deploy.Text || strings.Join(got.Tags, ",") != "ops,tagcanary4712" || got.Tainted || got.User != "" {
		t.Fatalf("Memory = %+v, %v; want %+v", got, err, deploy)
	}
	if _, err := s.Memory(ctx, b, deploy.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("another tenant's memory: %v, want NotFound", err)
	}
	if got, _ := s.Memory(ctx, a, bobs.ID); !got.Tainted || got.User != "u_bob" || got.TaskID != "t_1" {
		t.Errorf("a tainted private memory reads back as %+v", got)
	}

	// Ranking: the memory saying "deploy" most is first for "deploy".
	found, err := s.FindMemories(ctx, a, bulwark.MemoryQuery{Text: "Deploy"})
	if err != nil || len(found) != 2 {
		t.Fatalf("FindMemories(deploy) = %+v, %v; want 2", found, err)
	}
	if !strings.HasPrefix(found[0].Text, "Deploy deploy") || found[0].Rank < found[1].Rank || found[0].Rank <= 0 {
		t.Errorf("FindMemories(deploy) ranks %q (%v) before %q (%v)", found[0].Text, found[0].Rank, found[1].Text, found[1].Rank)
	}
	// A word of the script's path and a tag are found too.
	if found, _ := s.FindMemories(ctx, a, bulwark.MemoryQuery{Text: "where is ops/deploy.sh?"}); len(found) == 0 || found[0].ID != deploy.ID {
		t.Errorf("FindMemories(ops/deploy.sh) = %+v, want the script first", found)
	}
	if found, _ := s.FindMemories(ctx, a, bulwark.MemoryQuery{Text: "TAGCANARY4712"}); len(found) != 1 {
		t.Errorf("FindMemories(a tag) = %+v, want 1", found)
	}

	// Users: alice finds hers and the tenant's, not bob's; nobody's
	// private ones reach a reader without a user.
	texts := func(q bulwark.MemoryQuery) string {
		t.Helper()
		ms, err := s.FindMemories(ctx, a, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Text)
		}
		return strings.Join(out, "|")
	}
	if got := texts(bulwark.MemoryQuery{Text: "coffee", User: "u_alice"}); got != "The coffee machine is on the second floor" {
		t.Errorf("alice's search for coffee found %q", got)
	}
	if got := texts(bulwark.MemoryQuery{Text: "coffee"}); got != "" {
		t.Errorf("a search without a user found private memories: %q", got)
	}
	if got := texts(bulwark.MemoryQuery{User: "u_bob"}); strings.Contains(got, "machine") || !strings.Contains(got, "Bob's") {
		t.Errorf("bob's listing: %q", got)
	}
	if got := texts(bulwark.MemoryQuery{Limit: 1}); strings.Count(got, "|") != 0 || got == "" {
		t.Errorf("a listing of 1: %q", got)
	}
	if ms, _ := s.FindMemories(ctx, b, bulwark.MemoryQuery{Text: "script " + canary}); len(ms) != 0 {
		t.Errorf("tenant b found tenant a's memory: %+v", ms)
	}

	// Edit, then delete.
	deploy.Text, deploy.Tags, deploy.Tainted = "The deploy script moved to ops/ship.sh", []string{"ops"}, true
	up, err := s.UpdateMemory(ctx, a, deploy)
	if err != nil || up.Text != deploy.Text || !up.Tainted || up.Created.IsZero() {
		t.Fatalf("UpdateMemory = %+v, %v", up, err)
	}
	if found, _ := s.FindMemories(ctx, a, bulwark.MemoryQuery{Text: "ship"}); len(found) != 1 || !found[0].Tainted {
		t.Errorf("after the edit, ship finds %+v", found)
	}
	if found, _ := s.FindMemories(ctx, a, bulwark.MemoryQuery{Text: "lives"}); len(found) != 0 {
		t.Errorf("after the edit, the old words still find %+v", found)
	}
	if _, err := s.UpdateMemory(ctx, b, deploy); !kindIs(err, bulwark.NotFound) {
		t.Errorf("an edit under another tenant: %v, want NotFound", err)
	}
	if err := s.DeleteMemory(ctx, b, deploy.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("a delete under another tenant: %v, want NotFound", err)
	}

	// Limits.
	for _, bad := range []bulwark.Memory{{Text: " "}, {Text: strings.Repeat("x", bulwark.MaxMemoryText+1)}, {Text: "x", Tags: []string{strings.Repeat("t", 65)}}, {Text: "\xff"}} {
		if _, err := s.AddMemory(ctx, a, bad); !kindIs(err, bulwark.Invalid) {
			t.Errorf("AddMemory(%.20q): %v, want Invalid", bad.Text, err)
		}
	}

	// Nothing in the clear: not the text, a tag, nor a word of them.
	h := harness(t, s)
	dump := h.Dump(t)
	for _, w := range []string{canary, "tagcanary4712", "machine", "Bob's", "ship.sh"} {
		if bytes.Contains(bytes.ToLower(dump), []byte(strings.ToLower(w))) {
			t.Errorf("%q is kept in the clear", w)
		}
	}

	// The taint flag and the user are sealed: changed in the database,
	// the memory does not open.
	h.Exec(t, `UPDATE memories SET tainted = 0 WHERE id = ?`, bobs.ID)
	if _, err := s.Memory(ctx, a, bobs.ID); !kindIs(err, bulwark.Internal) {
		t.Errorf("a memory made untainted behind the store's back: %v, want Internal", err)
	}
	h.Exec(t, `UPDATE memories SET tainted = 1, user_id = '' WHERE id = ?`, bobs.ID)
	if _, err := s.Memory(ctx, a, bobs.ID); !kindIs(err, bulwark.Internal) {
		t.Errorf("a private memory made tenant-wide behind the store's back: %v, want Internal", err)
	}
	h.Exec(t, `DELETE FROM memories WHERE id = ?`, bobs.ID)

	if err := s.DeleteMemory(ctx, a, deploy.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Memory(ctx, a, deploy.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("a deleted memory: %v, want NotFound", err)
	}
	if found, _ := s.FindMemories(ctx, a, bulwark.MemoryQuery{Text: "ship"}); len(found) != 0 {
		t.Errorf("a deleted memory is still found: %+v", found)
	}
	if err := s.DeleteMemory(ctx, a, deploy.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("a second delete: %v, want NotFound", err)
	}
}
