package postgres

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestAuthVersionMovesWithAnyWriter: the triggers move the version with
// a change made behind the store's back (another program, psql, a store
// method written later), in the same transaction: an update of a key's
// role or hash, of a user, of settings; an update of last_used alone does
// not, and a change rolled back leaves it.
func TestAuthVersionMovesWithAnyWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpen(t, pgtest.NewDatabase(t), secret.NewKeyring())
	tn, err := db.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	k, err := db.CreateAPIKey(ctx, tn.ID, bulwark.APIKey{Name: "k", Prefix: "bwk_trigger1", Role: bulwark.RoleAdmin}, []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sql   string
		moves bool
	}{
		{`UPDATE api_keys SET last_used = 12345 WHERE id = $1`, false},
		{`UPDATE api_keys SET role = 'viewer' WHERE id = $1`, true},
		{`UPDATE api_keys SET hash = '\x00'::bytea WHERE id = $1`, true},
		{`UPDATE api_keys SET expires = 1 WHERE id = $1`, true},
	} {
		before, _, _ := db.AuthVersion(ctx)
		if _, err := db.pool.Exec(ctx, c.sql, k.ID); err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if after, _, _ := db.AuthVersion(ctx); (after != before) != c.moves {
			t.Errorf("%s: version %d -> %d, want moved: %v", c.sql, before, after, c.moves)
		}
	}
	before, _, _ := db.AuthVersion(ctx)
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, k.ID); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	if after, _, _ := db.AuthVersion(ctx); after != before {
		t.Errorf("a revocation rolled back moved the version %d -> %d", before, after)
	}
}
