package sqlite

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestMemoryQuerySyntaxIsWords: a search text written as FTS5 syntax
// (operators, quotes, NEAR, column filters, prefixes, a bare *) is read as
// words: it never errors, never matches everything, and never reaches
// another user's memory.
func TestMemoryQuerySyntaxIsWords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newFolder(t).open(t)
	tn, err := db.LocalTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddMemory(ctx, tn.ID, bulwark.Memory{Text: "the private launch code of bob", User: "u_bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddMemory(ctx, tn.ID, bulwark.Memory{Text: "alice likes tea", User: "u_alice"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`*`, `"`, `launch OR *`, `NEAR(launch code, 5)`, `words:launch`, `{words}: launch`, `launch*`, `^launch`,
		`"launch" AND "code"`, `') OR 1=1 --`, `launch NOT tea`, `-tea`, `+`, `(`, "\x00launch", `w*`, `w0*`} {
		ms, err := db.FindMemories(ctx, tn.ID, bulwark.MemoryQuery{Text: q, User: "u_alice"})
		if err != nil {
			t.Errorf("FindMemories(%q): %v", q, err)
		}
		for _, m := range ms {
			if m.User != "u_alice" {
				t.Errorf("FindMemories(%q) as alice found bob's memory %q", q, m.Text)
			}
		}
	}
}
