package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/server"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// TestDoctorKeyAge: doctor warns of the keys older than their tenant's
// key_max_age_days, naming them, and says nothing of tenants that set no
// age or of expired keys.
func TestDoctorKeyAge(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "bulwark.db"), Keys: secret.NewKeyring(), KeySource: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := db.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := db.CreateTenant(ctx, "other")
	now := time.Now()
	for _, k := range []struct {
		tenant  bulwark.TenantID
		name    string
		expires time.Time
	}{{a.ID, "deploy bot", time.Time{}}, {a.ID, "expired one", now.Add(time.Hour)}, {b.ID, "b's key", time.Time{}}} {
		if _, _, err := server.IssueKey(ctx, db, k.tenant, server.KeySpec{Name: k.name, Role: bulwark.RoleMember, CreatedBy: "test", Expires: k.expires}); err != nil {
			t.Fatal(err)
		}
	}
	if c := keyAgeCheck(ctx, db, now.Add(100*24*time.Hour)); c.level != "ok" || !strings.Contains(c.detail, "no tenant sets") {
		t.Errorf("no key_max_age_days: %+v", c)
	}
	if _, err := db.PutSettings(ctx, a.ID, bulwark.Settings{KeyMaxAgeDays: 30}); err != nil {
		t.Fatal(err)
	}
	if c := keyAgeCheck(ctx, db, now.Add(29*24*time.Hour)); c.level != "ok" {
		t.Errorf("keys younger than 30 days: %+v", c)
	}
	c := keyAgeCheck(ctx, db, now.Add(31*24*time.Hour))
	if c.level != "warn" || !strings.HasPrefix(c.detail, "1 key is older") || !strings.Contains(c.detail, `acme: "deploy bot"`) ||
		strings.Contains(c.detail, "b's key") || strings.Contains(c.detail, "expired one") || !strings.Contains(c.detail, "rotate") {
		t.Errorf("a key older than 30 days: %+v", c)
	}
}
