package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

func testSecrets(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	for _, tc := range []struct {
		name, value string
		kind        bulwark.Kind
	}{
		{"OK_1", "value-long-enough", 0},
		{"bad-name", "value-long-enough", bulwark.Invalid},
		{"1DIGIT", "value-long-enough", bulwark.Invalid},
		{"EMPTY", "", bulwark.Invalid},
		{"SHORT", "12345", bulwark.Invalid},
		{"HUGE", string(bytes.Repeat([]byte("x"), 64<<10+1)), bulwark.Invalid},
	} {
		err := s.SetSecret(ctx, a, tc.name, tc.value)
		if tc.kind == 0 && err != nil || tc.kind != 0 && !kindIs(err, tc.kind) {
			t.Errorf("SetSecret(%q) = %v, want kind %v", tc.name, err, tc.kind)
		}
	}
	if err := s.SetSecret(ctx, a, "OK_1", "replaced-value"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSecret(ctx, a, "A_FIRST", "another-value"); err != nil {
		t.Fatal(err)
	}
	vals, err := s.SecretValues(ctx, a)
	if err != nil || len(vals) != 2 || vals["OK_1"] != "replaced-value" || vals["A_FIRST"] != "another-value" {
		t.Errorf("SecretValues = %v, %v", vals, err)
	}
	infos, err := s.ListSecrets(ctx, a)
	if err != nil || len(infos) != 2 || infos[0].Name != "A_FIRST" || infos[1].Name != "OK_1" || infos[1].Updated.Before(infos[1].Created) || infos[0].Hosts == nil {
		t.Errorf("ListSecrets = %+v, %v; want A_FIRST then OK_1, hosts [] not nil", infos, err)
	}
	all, err := s.Secrets(ctx, a)
	if err != nil || len(all) != 2 || all[0].Name != "A_FIRST" || all[1].Value != "replaced-value" {
		t.Errorf("Secrets = %+v, %v", all, err)
	}
	if vals, err := s.SecretValues(ctx, b); err != nil || len(vals) != 0 {
		t.Errorf("SecretValues(b) = %v, %v; want none", vals, err)
	}
	if err := s.DeleteSecret(ctx, b, "OK_1"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteSecret from b = %v, want NotFound", err)
	}
	if err := s.DeleteSecret(ctx, a, "OK_1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSecret(ctx, a, "OK_1"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("second DeleteSecret = %v, want NotFound", err)
	}
	if err := s.SetSecret(ctx, "tn_nosuch", "X", "value-123"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("SetSecret for an unknown tenant = %v, want NotFound", err)
	}
}

var secretHostsTests = []struct {
	hosts []string
	want  []string
	ok    bool
}{
	{nil, nil, true},
	{[]string{"api.github.com"}, []string{"api.github.com"}, true},
	{[]string{"API.GitHub.com.", "*.Example.com", "api.github.com"}, []string{"*.example.com", "api.github.com"}, true},
	{[]string{"127.0.0.1"}, nil, false},
	{[]string{"[::1]"}, nil, false},
	{[]string{"api.github.com:443"}, nil, false},
	{[]string{"*"}, nil, false},
	{[]string{"*.com"}, nil, false},
	{[]string{"https://api.github.com"}, nil, false},
}

func testSecretHosts(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a := mustTenant(t, s, "a")
	for _, tt := range secretHostsTests {
		err := s.SetSecret(ctx, a, "TOKEN", "value-long-enough", tt.hosts...)
		if !tt.ok {
			if !kindIs(err, bulwark.Invalid) {
				t.Errorf("SetSecret(hosts %q) = %v, want Invalid", tt.hosts, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("SetSecret(hosts %q) = %v", tt.hosts, err)
			continue
		}
		all, err := s.Secrets(ctx, a)
		if err != nil || len(all) != 1 || !slices.Equal(all[0].Hosts, tt.want) || all[0].Value != "value-long-enough" {
			t.Errorf("after SetSecret(hosts %q), Secrets = %+v, %v; want hosts %q", tt.hosts, all, err, tt.want)
		}
		infos, err := s.ListSecrets(ctx, a)
		if err != nil || len(infos) != 1 || len(infos[0].Hosts) != len(tt.want) {
			t.Errorf("after SetSecret(hosts %q), ListSecrets = %+v, %v", tt.hosts, infos, err)
		}
	}
}

func testUsers(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	u, err := s.CreateUser(ctx, a, bulwark.User{Email: " Ann@Example.COM ", Role: bulwark.RoleAdmin}, "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ann@example.com" || u.TenantID != a || u.ID == "" {
		t.Errorf("CreateUser = %+v, want a normalized email in tenant a", u)
	}
	if _, err := s.CreateUser(ctx, a, bulwark.User{Email: "ANN@example.com", Role: bulwark.RoleViewer}, "h"); !kindIs(err, bulwark.Conflict) {
		t.Errorf("CreateUser with an email the tenant has = %v, want Conflict", err)
	}
	for _, bad := range []bulwark.User{{Email: "no-at", Role: bulwark.RoleViewer}, {Email: "x@y", Role: "root"}, {Email: "x@y", Role: bulwark.RoleOperator}} {
		if _, err := s.CreateUser(ctx, a, bad, "h"); !kindIs(err, bulwark.Invalid) {
			t.Errorf("CreateUser(%+v) = %v, want Invalid", bad, err)
		}
	}
	if _, err := s.CreateUser(ctx, a, bulwark.User{Email: "p@y", Role: bulwark.RoleViewer}, ""); !kindIs(err, bulwark.Invalid) {
		t.Errorf("CreateUser without a password = %v, want Invalid", err)
	}
	got, hash, err := s.UserByEmail(ctx, "ann@EXAMPLE.com")
	if err != nil || got.ID != u.ID || hash != "$argon2id$x" {
		t.Errorf("UserByEmail = %+v, %q, %v", got, hash, err)
	}
	if _, _, err := s.UserByEmail(ctx, "nobody@example.com"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("UserByEmail(unknown) = %v, want NotFound", err)
	}
	if got, err := s.User(ctx, a, u.ID); err != nil || got != u {
		t.Errorf("User = %+v, %v; want %+v", got, err, u)
	}
	v, err := s.CreateUser(ctx, a, bulwark.User{Email: "bob@example.com", Role: bulwark.RoleMember}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if us, err := s.ListUsers(ctx, a); err != nil || len(us) != 2 || us[0].ID != u.ID || us[1].ID != v.ID {
		t.Errorf("ListUsers(a) = %v, %v; want ann then bob", us, err)
	}
	if _, err := s.SetUserRole(ctx, a, u.ID, "root"); !kindIs(err, bulwark.Invalid) {
		t.Errorf("SetUserRole(root) = %v, want Invalid", err)
	}
	if got, err := s.SetUserRole(ctx, a, u.ID, bulwark.RoleViewer); err != nil || got.Role != bulwark.RoleViewer {
		t.Errorf("SetUserRole = %+v, %v", got, err)
	}
	if err := s.SetPasswordHash(ctx, a, u.ID, "h2"); err != nil {
		t.Fatal(err)
	}
	if _, hash, _ := s.UserByEmail(ctx, u.Email); hash != "h2" {
		t.Errorf("after SetPasswordHash the hash is %q", hash)
	}
	if _, err := s.User(ctx, a, "u_nosuch"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("User(unknown) = %v, want NotFound", err)
	}
	if _, err := s.SetUserRole(ctx, a, "u_nosuch", bulwark.RoleOwner); !kindIs(err, bulwark.NotFound) {
		t.Errorf("SetUserRole(unknown) = %v, want NotFound", err)
	}
	_ = b
}

func testEmailsPerTenant(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b, c := mustTenant(t, s, "a"), mustTenant(t, s, "b"), mustTenant(t, s, "c")
	ua, err := s.CreateUser(ctx, a, bulwark.User{Email: "ann@example.com", Role: bulwark.RoleAdmin}, "ha")
	if err != nil {
		t.Fatal(err)
	}
	ub, err := s.CreateUser(ctx, b, bulwark.User{Email: "ANN@example.com", Role: bulwark.RoleViewer}, "hb")
	if err != nil {
		t.Fatalf("CreateUser with an email another tenant has = %v, want it made", err)
	}
	for _, x := range []struct {
		tenant   bulwark.TenantID
		id, hash string
	}{{a, ua.ID, "ha"}, {b, ub.ID, "hb"}} {
		if got, hash, err := s.TenantUserByEmail(ctx, x.tenant, "Ann@example.com"); err != nil || got.ID != x.id || hash != x.hash {
			t.Errorf("TenantUserByEmail(%s) = %s %q %v, want %s %q", x.tenant, got.ID, hash, err, x.id, x.hash)
		}
	}
	if _, _, err := s.TenantUserByEmail(ctx, c, "ann@example.com"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("TenantUserByEmail(c) = %v, want NotFound", err)
	}
	if _, _, err := s.UserByEmail(ctx, "ann@example.com"); !kindIs(err, bulwark.Conflict) {
		t.Errorf("UserByEmail of an address in two tenants = %v, want Conflict", err)
	}
	us, hashes, err := s.UsersByEmail(ctx, " ANN@example.com", 10)
	if err != nil || len(us) != 2 || len(hashes) != 2 || us[0].ID != ua.ID || hashes[0] != "ha" || us[1].ID != ub.ID || hashes[1] != "hb" {
		t.Errorf("UsersByEmail = %v %q %v, want a's user (ha) then b's (hb)", us, hashes, err)
	}
	if us, _, err := s.UsersByEmail(ctx, "ann@example.com", 1); err != nil || len(us) != 1 {
		t.Errorf("UsersByEmail with limit 1 = %v %v, want one user", us, err)
	}
	if us, _, err := s.UsersByEmail(ctx, "nobody@example.com", 10); err != nil || len(us) != 0 {
		t.Errorf("UsersByEmail of an unknown address = %v %v, want none", us, err)
	}
}

func testDeleteUser(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	u, err := s.CreateUser(ctx, a, bulwark.User{Email: "u@a.test", Role: bulwark.RoleAdmin}, "h")
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.CreateUser(ctx, a, bulwark.User{Email: "v@a.test", Role: bulwark.RoleAdmin}, "h")
	if err != nil {
		t.Fatal(err)
	}
	key := func(prefix, creator string) bulwark.APIKey {
		t.Helper()
		h := sha256.Sum256([]byte(prefix))
		k, err := s.CreateAPIKey(ctx, a, bulwark.APIKey{Name: prefix, Prefix: prefix, Role: bulwark.RoleMember, CreatedBy: "test", CreatorUser: creator}, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ku, kv, kcli := key("bwk_uuuuuuuu", u.ID), key("bwk_vvvvvvvv", v.ID), key("bwk_cccccccc", "")
	if got, _, _ := s.APIKeyByPrefix(ctx, ku.Prefix); got.CreatorUser != u.ID {
		t.Errorf("CreatorUser = %q, want %q", got.CreatorUser, u.ID)
	}
	if _, err := s.CreateSession(ctx, a, bulwark.Session{UserID: u.ID}, []byte("session-of-u-0123456789abcdef01")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.DeleteUser(ctx, b, u.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteUser from tenant b = %v, want NotFound", err)
	}
	sessions, keys, err := s.DeleteUser(ctx, a, u.ID)
	if err != nil || sessions != 1 || keys != 1 {
		t.Errorf("DeleteUser = %d sessions, %d keys, %v; want 1, 1, nil", sessions, keys, err)
	}
	if _, err := s.User(ctx, a, u.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("the deleted user: %v, want NotFound", err)
	}
	if _, _, err := s.APIKeyByPrefix(ctx, ku.Prefix); !kindIs(err, bulwark.NotFound) {
		t.Errorf("the deleted user's key: %v, want NotFound", err)
	}
	if _, err := s.SessionByTokenHash(ctx, []byte("session-of-u-0123456789abcdef01")); !kindIs(err, bulwark.NotFound) {
		t.Errorf("the deleted user's session: %v, want NotFound", err)
	}
	for _, k := range []bulwark.APIKey{kv, kcli} {
		if _, _, err := s.APIKeyByPrefix(ctx, k.Prefix); err != nil {
			t.Errorf("key %s of someone else after the delete: %v", k.Name, err)
		}
	}
	if _, _, err := s.DeleteUser(ctx, a, u.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("second DeleteUser = %v, want NotFound", err)
	}
	h := sha256.Sum256([]byte("x"))
	if _, err := s.CreateAPIKey(ctx, a, bulwark.APIKey{Name: "x", Prefix: "bwk_xxxxxxxx", Role: bulwark.RoleMember, CreatorUser: u.ID}, h[:]); !kindIs(err, bulwark.NotFound) {
		t.Errorf("CreateAPIKey for a deleted user = %v, want NotFound", err)
	}
	if _, err := s.CreateOperatorKey(ctx, bulwark.APIKey{Name: "op", Prefix: "bwk_oooooooo", CreatorUser: v.ID}, h[:]); !kindIs(err, bulwark.Invalid) {
		t.Errorf("CreateOperatorKey with a user = %v, want Invalid", err)
	}
}

func testAPIKeys(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	h := sha256.Sum256([]byte("bwk_secret"))
	exp := time.Now().Add(time.Hour)
	k, err := s.CreateAPIKey(ctx, a, bulwark.APIKey{Name: "ci", Prefix: "bwk_abcdefgh", Role: bulwark.RoleMember, Scopes: []string{"tasks", "files"}, Expires: exp, CreatedBy: "cli"}, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIKey(ctx, a, bulwark.APIKey{Name: "x", Prefix: "bwk_abcdefgh", Role: bulwark.RoleMember}, h[:]); !kindIs(err, bulwark.Conflict) {
		t.Errorf("a second key with the same prefix = %v, want Conflict", err)
	}
	if _, err := s.CreateAPIKey(ctx, b, bulwark.APIKey{Name: "x", Prefix: "bwk_abcdefgh", Role: bulwark.RoleMember}, h[:]); !kindIs(err, bulwark.Conflict) {
		t.Errorf("a key of another tenant with the same prefix = %v, want Conflict", err)
	}
	for _, bad := range []bulwark.APIKey{
		{Name: "x", Prefix: "bwk_zzzzzzzz", Role: bulwark.RoleOperator},
		{Name: "x", Prefix: "bwk_z", Role: bulwark.RoleMember},
		{Name: "", Prefix: "bwk_zzzzzzzz", Role: bulwark.RoleMember},
	} {
		if _, err := s.CreateAPIKey(ctx, a, bad, h[:]); !kindIs(err, bulwark.Invalid) {
			t.Errorf("CreateAPIKey(%+v) = %v, want Invalid", bad, err)
		}
	}
	got, hash, err := s.APIKeyByPrefix(ctx, "bwk_abcdefgh")
	if err != nil || got.ID != k.ID || got.TenantID != a || !bytes.Equal(hash, h[:]) || !slices.Equal(got.Scopes, []string{"tasks", "files"}) ||
		!got.Expires.Equal(k.Expires) || got.CreatedBy != "cli" || !got.LastUsed.IsZero() || !got.Created.Equal(k.Created) {
		t.Errorf("APIKeyByPrefix = %+v, %x, %v; want %+v", got, hash, err, k)
	}
	if _, _, err := s.APIKeyByPrefix(ctx, "bwk_nosuchxx"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("APIKeyByPrefix(unknown) = %v, want NotFound", err)
	}
	if ks, _ := s.ListAPIKeys(ctx, b); len(ks) != 0 {
		t.Errorf("ListAPIKeys(b) = %v, want none", ks)
	}
	now := time.Now()
	if err := s.TouchAPIKey(ctx, b, k.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ks, _ := s.ListAPIKeys(ctx, a); len(ks) != 1 || !ks[0].LastUsed.IsZero() {
		t.Errorf("after TouchAPIKey from tenant b: %+v, want the key unused", ks)
	}
	if err := s.TouchAPIKey(ctx, a, k.ID, now); err != nil {
		t.Fatal(err)
	}
	if ks, _ := s.ListAPIKeys(ctx, a); len(ks) != 1 || !ks[0].LastUsed.Equal(stamp(now)) {
		t.Errorf("ListAPIKeys(a) = %+v, want the key, used now", ks)
	}
	if err := s.DeleteAPIKey(ctx, a, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.APIKeyByPrefix(ctx, "bwk_abcdefgh"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("a revoked key = %v, want NotFound", err)
	}
	if err := s.DeleteAPIKey(ctx, a, k.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("second DeleteAPIKey = %v, want NotFound", err)
	}
	op, err := s.CreateOperatorKey(ctx, bulwark.APIKey{Name: "op", Prefix: "bwk_operator"}, h[:])
	if err != nil || op.Role != bulwark.RoleOperator || op.TenantID != "" {
		t.Fatalf("CreateOperatorKey = %+v, %v", op, err)
	}
	if got, _, err := s.APIKeyByPrefix(ctx, "bwk_operator"); err != nil || got.TenantID != "" || got.Role != bulwark.RoleOperator {
		t.Errorf("APIKeyByPrefix(operator) = %+v, %v", got, err)
	}
	// The operator key is touched as the tenant "", and by no tenant.
	if err := s.TouchAPIKey(ctx, a, op.ID, now); err != nil {
		t.Error(err)
	}
	if got, _, _ := s.APIKeyByPrefix(ctx, "bwk_operator"); !got.LastUsed.IsZero() {
		t.Errorf("a tenant's TouchAPIKey reached the operator key")
	}
	if err := s.TouchAPIKey(ctx, "", op.ID, now); err != nil {
		t.Error(err)
	}
	if got, _, _ := s.APIKeyByPrefix(ctx, "bwk_operator"); !got.LastUsed.Equal(stamp(now)) {
		t.Errorf("operator key LastUsed = %v, want %v", got.LastUsed, now)
	}
	if ks, _ := s.ListAPIKeys(ctx, a); len(ks) != 0 {
		t.Errorf("ListAPIKeys(a) lists %v, want no operator key", ks)
	}
}

func testRevokeKeyTree(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	mk := func(tenant bulwark.TenantID, prefix, parent string) (bulwark.APIKey, error) {
		h := sha256.Sum256([]byte(prefix))
		return s.CreateAPIKey(ctx, tenant, bulwark.APIKey{Name: prefix, Prefix: prefix, Role: bulwark.RoleMember, CreatedBy: "test", CreatorKey: parent}, h[:])
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
	if _, err := mk(b, "bwk_bbbbbbbb", root.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("a key of b made by a's key = %v, want NotFound", err)
	}
	u, err := s.CreateUser(ctx, a, bulwark.User{Email: "u@a.test", Role: bulwark.RoleAdmin}, "h")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("x"))
	if _, err := s.CreateAPIKey(ctx, b, bulwark.APIKey{Name: "x", Prefix: "bwk_xxxxxxxx", Role: bulwark.RoleMember, CreatorUser: u.ID}, h[:]); !kindIs(err, bulwark.NotFound) {
		t.Errorf("a key of b carrying a's user = %v, want NotFound", err)
	}
	if err := s.DeleteAPIKey(ctx, b, child.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteAPIKey of a's key from b = %v, want NotFound", err)
	}
	if err := s.DeleteAPIKey(ctx, a, child.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		k    bulwark.APIKey
		gone bool
	}{{root, false}, {child, true}, {grandchild, true}, {sibling, false}} {
		_, _, err := s.APIKeyByPrefix(ctx, c.k.Prefix)
		if c.gone != kindIs(err, bulwark.NotFound) {
			t.Errorf("key %s after revoking %s: %v, want gone %v", c.k.Name, child.Name, err, c.gone)
		}
	}
}

func testSessions(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	u, err := s.CreateUser(ctx, a, bulwark.User{Email: "u@a", Role: bulwark.RoleMember}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSession(ctx, b, bulwark.Session{UserID: u.ID}, []byte("x")); !kindIs(err, bulwark.NotFound) {
		t.Errorf("a session of tenant b for a's user = %v, want NotFound", err)
	}
	if _, err := s.CreateSession(ctx, a, bulwark.Session{UserID: u.ID}, nil); !kindIs(err, bulwark.Invalid) {
		t.Errorf("a session without a token hash = %v, want Invalid", err)
	}
	s1, err := s.CreateSession(ctx, a, bulwark.Session{UserID: u.ID}, []byte("h1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSession(ctx, a, bulwark.Session{UserID: u.ID}, []byte("h2")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SessionByTokenHash(ctx, []byte("h1")); err != nil || got.ID != s1.ID || got.UserID != u.ID || got.TenantID != a || !got.Created.Equal(s1.Created) {
		t.Errorf("SessionByTokenHash = %+v, %v; want %+v", got, err, s1)
	}
	later := time.Now().Add(time.Minute)
	if err := s.TouchSession(ctx, b, s1.ID, later.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, a, s1.ID, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SessionByTokenHash(ctx, []byte("h1")); !got.LastSeen.Equal(stamp(later)) {
		t.Errorf("LastSeen = %v, want %v (and not b's touch)", got.LastSeen, later)
	}
	if err := s.DeleteSession(ctx, b, s1.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteSession from b = %v, want NotFound", err)
	}
	if n, err := s.DeleteUserSessions(ctx, b, u.ID); err != nil || n != 0 {
		t.Errorf("DeleteUserSessions from b = %d, %v; want 0", n, err)
	}
	if err := s.DeleteSession(ctx, a, s1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, a, s1.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("second DeleteSession = %v, want NotFound", err)
	}
	if n, err := s.DeleteUserSessions(ctx, a, u.ID); err != nil || n != 1 {
		t.Errorf("DeleteUserSessions = %d, %v; want 1", n, err)
	}
	if _, err := s.SessionByTokenHash(ctx, []byte("h2")); !kindIs(err, bulwark.NotFound) {
		t.Errorf("an ended session = %v, want NotFound", err)
	}
}

func testSettings(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	if got, err := s.Settings(ctx, a); err != nil || got.Model != "" {
		t.Errorf("Settings before any = %+v, %v; want zero", got, err)
	}
	in := bulwark.Settings{Model: "openai:gpt", AllowedDomains: []string{"example.com"}, MaxConcurrent: 3,
		Policy: bulwark.Policy{Rules: []bulwark.Rule{{Tool: "run_shell", Pattern: "rm *", Decision: bulwark.Deny}}}}
	if _, err := s.PutSettings(ctx, a, in); err != nil {
		t.Fatal(err)
	}
	in.MaxConcurrent = 4
	if _, err := s.PutSettings(ctx, a, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Settings(ctx, a)
	if err != nil || got.Model != in.Model || got.MaxConcurrent != 4 || len(got.Policy.Rules) != 1 || got.Updated.IsZero() {
		t.Errorf("Settings = %+v, %v", got, err)
	}
	if got, _ := s.Settings(ctx, b); got.Model != "" {
		t.Errorf("Settings(b) = %+v, want zero", got)
	}
}
