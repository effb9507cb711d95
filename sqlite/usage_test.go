package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

func TestSharedKeyUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	day := time.Date(2030, 5, 6, 23, 59, 0, 0, time.UTC)
	for _, u := range []bulwark.Usage{{InputTokens: 100, OutputTokens: 20, Cost: 0.5}, {InputTokens: 1, OutputTokens: 2, Cost: 0.25}} {
		if err := db.AddSharedKeyUsage(ctx, a, day, u); err != nil {
			t.Fatal(err)
		}
	}
	// The same UTC day, seen from another time zone, is the same day.
	east := day.Add(-time.Hour).In(time.FixedZone("east", 5*3600))
	if got, err := db.SharedKeyUsage(ctx, a, east); err != nil || got != (bulwark.Usage{InputTokens: 101, OutputTokens: 22, Cost: 0.75}) {
		t.Errorf("SharedKeyUsage(a, same day) = %+v, %v; want the sum", got, err)
	}
	if got, _ := db.SharedKeyUsage(ctx, a, day.Add(time.Minute)); got != (bulwark.Usage{}) {
		t.Errorf("SharedKeyUsage(a, next day) = %+v, want zero: budgets renew each UTC day", got)
	}
	if got, _ := db.SharedKeyUsage(ctx, b, day); got != (bulwark.Usage{}) {
		t.Errorf("SharedKeyUsage(b) = %+v, want zero: tenants are counted apart", got)
	}
	if err := db.AddSharedKeyUsage(ctx, a, day, bulwark.Usage{InputTokens: -5}); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("negative usage: %v, want Invalid", err)
	}
	if _, err := db.SharedKeyUsage(ctx, "", day); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("no tenant: %v, want Invalid", err)
	}
}
