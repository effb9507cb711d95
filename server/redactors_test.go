package server

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestTenantRedactors: a tenant's redactor holds its secrets and no
// other's, follows changes at once through Forget and within redactorTTL
// otherwise, and the redactor of no tenant holds nothing.
func TestTenantRedactors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.tenant("a"), e.tenant("b")
	reds := NewTenantRedactors(e.db, e.clock.Now)
	masks := func(tenant bulwark.TenantID, value string) bool {
		t.Helper()
		red, err := reds.For(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		return red.String("x "+value) != "x "+value
	}
	const v1, v2 = "first-value-8d7s", "second-value-3k2j"
	if err := e.db.SetSecret(ctx, a.id, "TOKEN", v1); err != nil {
		t.Fatal(err)
	}
	if !masks(a.id, v1) || masks(b.id, v1) || masks("", v1) {
		t.Fatalf("v1 masked for a, b, none = %v, %v, %v; want true, false, false", masks(a.id, v1), masks(b.id, v1), masks("", v1))
	}
	// Changed behind the cache's back (another process): seen within the TTL.
	if err := e.db.SetSecret(ctx, a.id, "TOKEN", v2); err != nil {
		t.Fatal(err)
	}
	if masks(a.id, v2) {
		t.Error("the cache was not used: every answer would read the store")
	}
	e.clock.Advance(redactorTTL)
	if !masks(a.id, v2) || masks(a.id, v1) {
		t.Errorf("after the TTL: v2 masked %v, v1 masked %v; want true, false", masks(a.id, v2), masks(a.id, v1))
	}
	// Changed through the server: Forget makes it immediate.
	if err := e.db.DeleteSecret(ctx, a.id, "TOKEN"); err != nil {
		t.Fatal(err)
	}
	reds.Forget(a.id)
	if masks(a.id, v2) {
		t.Error("a deleted secret is still masked after Forget")
	}
}
