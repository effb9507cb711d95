package sqlite

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestDeleteUser: deleting a user takes the user's sessions and the keys
// that carry the user's rights, and nothing of anyone else.
func TestDeleteUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	u, err := db.CreateUser(ctx, a, bulwark.User{Email: "u@a.test", Role: bulwark.RoleAdmin}, "h")
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.CreateUser(ctx, a, bulwark.User{Email: "v@a.test", Role: bulwark.RoleAdmin}, "h")
	if err != nil {
		t.Fatal(err)
	}
	key := func(prefix, creator string) bulwark.APIKey {
		t.Helper()
		h := sha256.Sum256([]byte(prefix))
		k, err := db.CreateAPIKey(ctx, a, bulwark.APIKey{Name: prefix, Prefix: prefix, Role: bulwark.RoleMember, CreatedBy: "test", CreatorUser: creator}, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ku, kv, kcli := key("bwk_uuuuuuuu", u.ID), key("bwk_vvvvvvvv", v.ID), key("bwk_cccccccc", "")
	if _, _, err := db.APIKeyByPrefix(ctx, ku.Prefix); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := db.APIKeyByPrefix(ctx, ku.Prefix); got.CreatorUser != u.ID {
		t.Errorf("CreatorUser = %q, want %q", got.CreatorUser, u.ID)
	}
	if _, err := db.CreateSession(ctx, a, bulwark.Session{UserID: u.ID}, []byte("session-of-u-0123456789abcdef01")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.DeleteUser(ctx, b, u.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("DeleteUser from tenant b = %v, want NotFound", err)
	}
	sessions, keys, err := db.DeleteUser(ctx, a, u.ID)
	if err != nil || sessions != 1 || keys != 1 {
		t.Errorf("DeleteUser = %d sessions, %d keys, %v; want 1, 1, nil", sessions, keys, err)
	}
	if _, err := db.User(ctx, a, u.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("the deleted user: %v, want NotFound", err)
	}
	if _, _, err := db.APIKeyByPrefix(ctx, ku.Prefix); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("the deleted user's key: %v, want NotFound", err)
	}
	for _, k := range []bulwark.APIKey{kv, kcli} {
		if _, _, err := db.APIKeyByPrefix(ctx, k.Prefix); err != nil {
			t.Errorf("key %s of someone else after the delete: %v", k.Name, err)
		}
	}
	if _, _, err := db.DeleteUser(ctx, a, u.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("second DeleteUser = %v, want NotFound", err)
	}
	// A key cannot carry the rights of a user who does not exist, nor an
	// operator key any user's.
	h := sha256.Sum256([]byte("x"))
	if _, err := db.CreateAPIKey(ctx, a, bulwark.APIKey{Name: "x", Prefix: "bwk_xxxxxxxx", Role: bulwark.RoleMember, CreatorUser: u.ID}, h[:]); err == nil {
		t.Error("CreateAPIKey for a deleted user = nil, want an error")
	}
	if _, err := db.CreateOperatorKey(ctx, bulwark.APIKey{Name: "op", Prefix: "bwk_oooooooo", CreatorUser: v.ID}, h[:]); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("CreateOperatorKey with a user = %v, want Invalid", err)
	}
}

// TestKeyCreatorBackfill: keys made before migration 0005 get the user
// whose rights they carry from created_by, through chains of keys.
func TestKeyCreatorBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a := mustTenant(t, db, "a")
	u, err := db.CreateUser(ctx, a, bulwark.User{Email: "u@a.test", Role: bulwark.RoleAdmin}, "h")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(prefix, createdBy string) bulwark.APIKey {
		t.Helper()
		h := sha256.Sum256([]byte(prefix))
		k, err := db.CreateAPIKey(ctx, a, bulwark.APIKey{Name: prefix, Prefix: prefix, Role: bulwark.RoleMember, CreatedBy: createdBy}, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k1 := mk("bwk_11111111", "user:"+u.ID)
	k2 := mk("bwk_22222222", "key:"+k1.ID)
	k3 := mk("bwk_33333333", "key:"+k2.ID)
	cli := mk("bwk_44444444", "cli")
	ghost := mk("bwk_55555555", "user:u_gone")
	text, err := migrations.ReadFile("migrations/0005_key_creator.sql")
	if err != nil {
		t.Fatal(err)
	}
	var code strings.Builder
	for line := range strings.Lines(string(text)) {
		if !strings.HasPrefix(line, "--") {
			code.WriteString(line)
		}
	}
	for stmt := range strings.SplitSeq(code.String(), ";") {
		if s := strings.TrimSpace(stmt); strings.HasPrefix(s, "UPDATE") || strings.HasPrefix(s, "WITH") {
			if _, err := db.w.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	want := map[string]struct{ user, key string }{k1.Prefix: {u.ID, ""}, k2.Prefix: {u.ID, k1.ID}, k3.Prefix: {u.ID, k2.ID},
		cli.Prefix: {"", ""}, ghost.Prefix: {"", ""}}
	for prefix, w := range want {
		if k, _, err := db.APIKeyByPrefix(ctx, prefix); err != nil || k.CreatorUser != w.user || k.CreatorKey != w.key {
			t.Errorf("key %s (made by %s): CreatorUser %q, CreatorKey %q, %v; want %q, %q", prefix, k.CreatedBy, k.CreatorUser, k.CreatorKey, err, w.user, w.key)
		}
	}
}

// TestRevokeKeyTree: revoking a key revokes the keys it made, and theirs,
// and nothing else; a key comes only from a user or key of its tenant.
func TestRevokeKeyTree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	mk := func(tenant bulwark.TenantID, prefix, parent string) (bulwark.APIKey, error) {
		h := sha256.Sum256([]byte(prefix))
		return db.CreateAPIKey(ctx, tenant, bulwark.APIKey{Name: prefix, Prefix: prefix, Role: bulwark.RoleMember, CreatedBy: "test", CreatorKey: parent}, h[:])
	}
	must := func(k bulwark.APIKey, err error) bulwark.APIKey {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	root := must(mk(a, "bwk_rrrrrrrr", ""))
	child := must(mk(a, "bwk_cccccccc", root.ID))
	grandchild := must(mk(a, "bwk_gggggggg", child.ID))
	sibling := must(mk(a, "bwk_ssssssss", ""))
	if _, err := mk(b, "bwk_bbbbbbbb", root.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("a key of b made by a's key = %v, want NotFound", err)
	}
	u, err := db.CreateUser(ctx, a, bulwark.User{Email: "u@a.test", Role: bulwark.RoleAdmin}, "h")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("x"))
	if _, err := db.CreateAPIKey(ctx, b, bulwark.APIKey{Name: "x", Prefix: "bwk_xxxxxxxx", Role: bulwark.RoleMember, CreatorUser: u.ID}, h[:]); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("a key of b carrying a's user = %v, want NotFound", err)
	}
	if err := db.DeleteAPIKey(ctx, a, child.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		k    bulwark.APIKey
		gone bool
	}{{root, false}, {child, true}, {grandchild, true}, {sibling, false}} {
		_, _, err := db.APIKeyByPrefix(ctx, c.k.Prefix)
		if c.gone != (bulwark.ErrorKind(err) == bulwark.NotFound) {
			t.Errorf("key %s after revoking %s: %v, want gone %v", c.k.Name, child.Name, err, c.gone)
		}
	}
}
