package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	u, err := db.CreateUser(ctx, a, bulwark.User{Email: " Ann@Example.COM ", Role: bulwark.RoleAdmin}, "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ann@example.com" || u.TenantID != a || u.ID == "" {
		t.Errorf("CreateUser = %+v, want a normalized email in tenant a", u)
	}
	if _, err := db.CreateUser(ctx, a, bulwark.User{Email: "ANN@example.com", Role: bulwark.RoleViewer}, "h"); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("CreateUser with an email the tenant has = %v, want Conflict", err)
	}
	for _, bad := range []bulwark.User{{Email: "no-at", Role: bulwark.RoleViewer}, {Email: "x@y", Role: "root"}, {Email: "x@y", Role: bulwark.RoleOperator}} {
		if _, err := db.CreateUser(ctx, a, bad, "h"); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("CreateUser(%+v) = %v, want Invalid", bad, err)
		}
	}
	got, hash, err := db.UserByEmail(ctx, "ann@EXAMPLE.com")
	if err != nil || got.ID != u.ID || hash != "$argon2id$x" {
		t.Errorf("UserByEmail = %+v, %q, %v", got, hash, err)
	}
	// Another tenant sees nothing of a's user.
	if _, err := db.User(ctx, b, u.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("User from tenant b = %v, want NotFound", err)
	}
	if _, err := db.SetUserRole(ctx, b, u.ID, bulwark.RoleOwner); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("SetUserRole from tenant b = %v, want NotFound", err)
	}
	if err := db.SetPasswordHash(ctx, b, u.ID, "h2"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("SetPasswordHash from tenant b = %v, want NotFound", err)
	}
	if us, err := db.ListUsers(ctx, b); err != nil || len(us) != 0 {
		t.Errorf("ListUsers(b) = %v, %v; want none", us, err)
	}
	if got, err := db.SetUserRole(ctx, a, u.ID, bulwark.RoleViewer); err != nil || got.Role != bulwark.RoleViewer {
		t.Errorf("SetUserRole = %+v, %v", got, err)
	}
	if err := db.SetPasswordHash(ctx, a, u.ID, "h2"); err != nil {
		t.Fatal(err)
	}
	if _, hash, _ := db.UserByEmail(ctx, u.Email); hash != "h2" {
		t.Errorf("after SetPasswordHash the hash is %q", hash)
	}
}

// TestEmailsPerTenant: an address may have a user in each tenant, each
// with its own password; a lookup without the tenant is Conflict when
// several have it, and a lookup with it finds that tenant's user only.
func TestEmailsPerTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b, c := mustTenant(t, db, "a"), mustTenant(t, db, "b"), mustTenant(t, db, "c")
	ua, err := db.CreateUser(ctx, a, bulwark.User{Email: "ann@example.com", Role: bulwark.RoleAdmin}, "ha")
	if err != nil {
		t.Fatal(err)
	}
	ub, err := db.CreateUser(ctx, b, bulwark.User{Email: "ANN@example.com", Role: bulwark.RoleViewer}, "hb")
	if err != nil {
		t.Fatalf("CreateUser with an email another tenant has = %v, want it made", err)
	}
	for _, x := range []struct {
		tenant bulwark.TenantID
		id     string
		hash   string
	}{{a, ua.ID, "ha"}, {b, ub.ID, "hb"}} {
		if got, hash, err := db.TenantUserByEmail(ctx, x.tenant, "Ann@example.com"); err != nil || got.ID != x.id || hash != x.hash {
			t.Errorf("TenantUserByEmail(%s) = %s %q %v, want %s %q", x.tenant, got.ID, hash, err, x.id, x.hash)
		}
	}
	if _, _, err := db.TenantUserByEmail(ctx, c, "ann@example.com"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("TenantUserByEmail(c) = %v, want NotFound", err)
	}
	if _, _, err := db.UserByEmail(ctx, "ann@example.com"); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("UserByEmail of an address in two tenants = %v, want Conflict", err)
	}
	us, hashes, err := db.UsersByEmail(ctx, " ANN@example.com", 10)
	if err != nil || len(us) != 2 || len(hashes) != 2 || us[0].ID != ua.ID || hashes[0] != "ha" || us[1].ID != ub.ID || hashes[1] != "hb" {
		t.Errorf("UsersByEmail = %v %q %v, want a's user (ha) then b's (hb)", us, hashes, err)
	}
	if us, _, err := db.UsersByEmail(ctx, "ann@example.com", 1); err != nil || len(us) != 1 {
		t.Errorf("UsersByEmail with limit 1 = %v %v, want one user", us, err)
	}
	if us, _, err := db.UsersByEmail(ctx, "nobody@example.com", 10); err != nil || len(us) != 0 {
		t.Errorf("UsersByEmail of an unknown address = %v %v, want none", us, err)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	h := sha256.Sum256([]byte("bwk_secret"))
	exp := time.Now().Add(time.Hour)
	k, err := db.CreateAPIKey(ctx, a, bulwark.APIKey{Name: "ci", Prefix: "bwk_abcdefgh", Role: bulwark.RoleMember, Scopes: []string{"tasks"}, Expires: exp, CreatedBy: "cli"}, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateAPIKey(ctx, a, bulwark.APIKey{Name: "x", Prefix: "bwk_abcdefgh", Role: bulwark.RoleMember}, h[:]); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("a second key with the same prefix = %v, want Conflict", err)
	}
	if _, err := db.CreateAPIKey(ctx, a, bulwark.APIKey{Name: "x", Prefix: "bwk_zzzzzzzz", Role: bulwark.RoleOperator}, h[:]); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("a tenant key with the operator role = %v, want Invalid", err)
	}
	got, hash, err := db.APIKeyByPrefix(ctx, "bwk_abcdefgh")
	if err != nil || got.ID != k.ID || got.TenantID != a || !bytes.Equal(hash, h[:]) || got.Scopes[0] != "tasks" || !got.Expires.Equal(k.Expires) {
		t.Errorf("APIKeyByPrefix = %+v, %x, %v", got, hash, err)
	}
	if err := db.DeleteAPIKey(ctx, b, k.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("DeleteAPIKey from tenant b = %v, want NotFound", err)
	}
	if ks, _ := db.ListAPIKeys(ctx, b); len(ks) != 0 {
		t.Errorf("ListAPIKeys(b) = %v, want none", ks)
	}
	now := time.Now()
	if err := db.TouchAPIKey(ctx, a, k.ID, now); err != nil {
		t.Fatal(err)
	}
	if ks, _ := db.ListAPIKeys(ctx, a); len(ks) != 1 || !ks[0].LastUsed.Equal(fromUnix(now.UnixNano())) {
		t.Errorf("ListAPIKeys(a) = %+v, want the key, used now", ks)
	}
	if err := db.DeleteAPIKey(ctx, a, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.APIKeyByPrefix(ctx, "bwk_abcdefgh"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("a revoked key = %v, want NotFound", err)
	}
	op, err := db.CreateOperatorKey(ctx, bulwark.APIKey{Name: "op", Prefix: "bwk_operator"}, h[:])
	if err != nil || op.Role != bulwark.RoleOperator || op.TenantID != "" {
		t.Fatalf("CreateOperatorKey = %+v, %v", op, err)
	}
	if got, _, err := db.APIKeyByPrefix(ctx, "bwk_operator"); err != nil || got.TenantID != "" || got.Role != bulwark.RoleOperator {
		t.Errorf("APIKeyByPrefix(operator) = %+v, %v", got, err)
	}
	if err := db.TouchAPIKey(ctx, "", op.ID, now); err != nil {
		t.Error(err)
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	u, err := db.CreateUser(ctx, a, bulwark.User{Email: "u@a", Role: bulwark.RoleMember}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateSession(ctx, b, bulwark.Session{UserID: u.ID}, []byte("x")); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("a session of tenant b for a's user = %v, want NotFound", err)
	}
	s1, err := db.CreateSession(ctx, a, bulwark.Session{UserID: u.ID}, []byte("h1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateSession(ctx, a, bulwark.Session{UserID: u.ID}, []byte("h2")); err != nil {
		t.Fatal(err)
	}
	if got, err := db.SessionByTokenHash(ctx, []byte("h1")); err != nil || got.ID != s1.ID || got.UserID != u.ID || got.TenantID != a {
		t.Errorf("SessionByTokenHash = %+v, %v", got, err)
	}
	if err := db.DeleteSession(ctx, b, s1.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("DeleteSession from b = %v, want NotFound", err)
	}
	if n, err := db.DeleteUserSessions(ctx, b, u.ID); err != nil || n != 0 {
		t.Errorf("DeleteUserSessions from b = %d, %v; want 0", n, err)
	}
	if err := db.DeleteSession(ctx, a, s1.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeleteUserSessions(ctx, a, u.ID); err != nil || n != 1 {
		t.Errorf("DeleteUserSessions = %d, %v; want 1", n, err)
	}
	if _, err := db.SessionByTokenHash(ctx, []byte("h2")); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("an ended session = %v, want NotFound", err)
	}
}

func TestSettingsSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	if s, err := db.Settings(ctx, a); err != nil || s.Model != "" {
		t.Errorf("Settings before any = %+v, %v; want zero", s, err)
	}
	in := bulwark.Settings{Model: "openai:canary-model-xyzzy", AllowedDomains: []string{"example.com"}, MaxConcurrent: 3,
		Policy: bulwark.Policy{Rules: []bulwark.Rule{{Tool: "run_shell", Pattern: "rm *", Decision: bulwark.Deny}}}}
	if _, err := db.PutSettings(ctx, a, in); err != nil {
		t.Fatal(err)
	}
	got, err := db.Settings(ctx, a)
	if err != nil || got.Model != in.Model || got.MaxConcurrent != 3 || len(got.Policy.Rules) != 1 || got.Updated.IsZero() {
		t.Errorf("Settings = %+v, %v", got, err)
	}
	if s, _ := db.Settings(ctx, b); s.Model != "" {
		t.Errorf("Settings(b) = %+v, want zero", s)
	}
	var ct []byte
	db.r.QueryRow(`SELECT settings_ct FROM settings WHERE tenant_id = ?`, a).Scan(&ct)
	if bytes.Contains(ct, []byte("canary-model-xyzzy")) {
		t.Error("the settings are stored in the clear")
	}
	// Moved to another tenant, they do not open.
	if _, err := db.w.Exec(`INSERT INTO settings (tenant_id, settings_ct, updated) VALUES (?, ?, 0)`, b, ct); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Settings(ctx, b); bulwark.ErrorKind(err) != bulwark.Internal {
		t.Errorf("settings moved to another tenant = %v, want Internal", err)
	}
}

// TestIdentityTenantRequired: every tenant-scoped identity method refuses
// the zero tenant.
func TestIdentityTenantRequired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	calls := map[string]func() error{
		"CreateUser": func() error {
			_, err := db.CreateUser(ctx, "", bulwark.User{Email: "a@b", Role: bulwark.RoleOwner}, "h")
			return err
		},
		"User":            func() error { _, err := db.User(ctx, "", "u_1"); return err },
		"ListUsers":       func() error { _, err := db.ListUsers(ctx, ""); return err },
		"SetUserRole":     func() error { _, err := db.SetUserRole(ctx, "", "u_1", bulwark.RoleOwner); return err },
		"SetPasswordHash": func() error { return db.SetPasswordHash(ctx, "", "u_1", "h") },
		"CreateAPIKey": func() error {
			_, err := db.CreateAPIKey(ctx, "", bulwark.APIKey{Name: "n", Prefix: "bwk_12345678", Role: bulwark.RoleOwner}, []byte("h"))
			return err
		},
		"ListAPIKeys":  func() error { _, err := db.ListAPIKeys(ctx, ""); return err },
		"DeleteAPIKey": func() error { return db.DeleteAPIKey(ctx, "", "k_1") },
		"CreateSession": func() error {
			_, err := db.CreateSession(ctx, "", bulwark.Session{UserID: "u_1"}, []byte("h"))
			return err
		},
		"TouchSession":       func() error { return db.TouchSession(ctx, "", "s_1", time.Now()) },
		"DeleteSession":      func() error { return db.DeleteSession(ctx, "", "s_1") },
		"DeleteUserSessions": func() error { _, err := db.DeleteUserSessions(ctx, "", "u_1"); return err },
		"DeleteUser":         func() error { _, _, err := db.DeleteUser(ctx, "", "u_1"); return err },
		"Settings":           func() error { _, err := db.Settings(ctx, ""); return err },
		"PutSettings":        func() error { _, err := db.PutSettings(ctx, "", bulwark.Settings{}); return err },
	}
	for name, call := range calls {
		if err := call(); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("%s with no tenant = %v, want Invalid", name, err)
		}
	}
}
