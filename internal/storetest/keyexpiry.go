package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// testExpireAPIKey: an expiry set on a key only moves earlier, reaches
// lookups, and another tenant's key is NotFound.
func testExpireAPIKey(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	k, err := s.CreateAPIKey(ctx, a, bulwark.APIKey{Name: "k", Prefix: "bwk_EXPIRE01", Role: bulwark.RoleMember, CreatedBy: "cli"}, []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := s.ExpireAPIKey(ctx, b, k.ID, base); !kindIs(err, bulwark.NotFound) {
		t.Errorf("ExpireAPIKey of a's key from b = %v, want NotFound", err)
	}
	for _, c := range []struct {
		at, want time.Time
	}{{base, base}, {base.Add(time.Hour), base}, {base.Add(-time.Hour), base.Add(-time.Hour)}} {
		got, err := s.ExpireAPIKey(ctx, a, k.ID, c.at)
		if err != nil || !got.Expires.Equal(c.want) {
			t.Errorf("ExpireAPIKey(%v) = %v, %v; want expiry %v", c.at, got.Expires, err, c.want)
		}
	}
	got, _, err := s.APIKeyByPrefix(ctx, "bwk_EXPIRE01")
	if err != nil || !got.Expires.Equal(base.Add(-time.Hour)) {
		t.Errorf("APIKeyByPrefix after ExpireAPIKey = %v, %v", got.Expires, err)
	}
	if _, err := s.ExpireAPIKey(ctx, a, "k_nosuchkey0000000000", base); !kindIs(err, bulwark.NotFound) {
		t.Errorf("ExpireAPIKey(unknown) = %v, want NotFound", err)
	}
}
