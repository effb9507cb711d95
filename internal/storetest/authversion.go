package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// testAuthVersion: every change of what authenticates a request (a key
// revoked, a user's role changed, a user deleted, a tenant's settings
// put) moves the store's authentication version, at once and stable;
// creating records and recording a key's use do not, or a cache of keys
// would never be used.
func testAuthVersion(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	av, ok := s.(bulwark.AuthVersioner)
	if !ok {
		t.Fatal("the store does not implement bulwark.AuthVersioner: servers would read keys from it at every request")
	}
	version := func() uint64 {
		t.Helper()
		v, stable, err := av.AuthVersion(ctx)
		if err != nil || !stable {
			t.Fatalf("AuthVersion = %d, stable %v, %v; want stable, no error", v, stable, err)
		}
		return v
	}
	tn := mustTenant(t, s, "acme")
	u, err := s.CreateUser(ctx, tn, bulwark.User{Email: "ann@example.com", Role: bulwark.RoleAdmin}, "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.CreateAPIKey(ctx, tn, bulwark.APIKey{Name: "k", Prefix: "bwk_authvers", Role: bulwark.RoleAdmin, CreatorUser: u.ID}, []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := s.CreateAPIKey(ctx, tn, bulwark.APIKey{Name: "k2", Prefix: "bwk_authver2", Role: bulwark.RoleViewer}, []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		do    func() error
		moves bool
	}{
		{"TouchAPIKey", func() error { return s.TouchAPIKey(ctx, tn, k.ID, time.Now()) }, false},
		{"APIKeyByPrefix", func() error { _, _, err := s.APIKeyByPrefix(ctx, k.Prefix); return err }, false},
		{"SetUserRole", func() error { _, err := s.SetUserRole(ctx, tn, u.ID, bulwark.RoleViewer); return err }, true},
		{"PutSettings", func() error {
			_, err := s.PutSettings(ctx, tn, bulwark.Settings{RateLimit: bulwark.RateLimitSettings{PerKey: 1}})
			return err
		}, true},
		// A rotated key's grace period ends by this: a cached key must not
		// outlive it.
		{"ExpireAPIKey", func() error { _, err := s.ExpireAPIKey(ctx, tn, k2.ID, time.Now().Add(time.Hour)); return err }, true},
		{"DeleteAPIKey", func() error { return s.DeleteAPIKey(ctx, tn, k2.ID) }, true},
		{"DeleteUser", func() error { _, _, err := s.DeleteUser(ctx, tn, u.ID); return err }, true},
		// Servers mask what they show with the tenant's secrets, kept
		// while the version holds: one added, changed or deleted on
		// another node must be masked there at its next request.
		{"SetSecret", func() error { return s.SetSecret(ctx, tn, "AUTHV", "authversion-secret-1") }, true},
		{"PutSecret (changed)", func() error {
			return s.PutSecret(ctx, tn, bulwark.Secret{Name: "AUTHV", Value: "authversion-secret-2"})
		}, true},
		{"SecretValues", func() error { _, err := s.SecretValues(ctx, tn); return err }, false},
		{"DeleteSecret", func() error { return s.DeleteSecret(ctx, tn, "AUTHV") }, true},
	} {
		before := version()
		if err := c.do(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if after := version(); (after != before) != c.moves {
			t.Errorf("%s: the version went from %d to %d; want it moved: %v", c.name, before, after, c.moves)
		}
	}
}
