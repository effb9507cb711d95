package sqlite

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestUsersRebuildKeepsReferences: migration 0006 rebuilds the users
// table; the sessions that refer to its rows survive it (the drop of the
// old table must not cascade). The migration is applied again over a
// populated database to check it.
func TestUsersRebuildKeepsReferences(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	a := mustTenant(t, db, "a")
	u, err := db.CreateUser(ctx, a, bulwark.User{Email: "ann@example.com", Role: bulwark.RoleOwner}, "h")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := db.CreateSession(ctx, a, bulwark.Session{UserID: u.ID, Created: db.now()}, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = 6`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = f.open(t)
	if _, err := db.User(ctx, a, u.ID); err != nil {
		t.Errorf("after the rebuild, User = %v", err)
	}
	if got, err := db.SessionByTokenHash(ctx, []byte("0123456789abcdef0123456789abcdef")); err != nil || got.ID != sess.ID {
		t.Errorf("after the rebuild, the session = %+v, %v; want it kept", got, err)
	}
	var fk int
	if err := db.w.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v after the migration, want 1", fk, err)
	}
}
