package sqlite

import (
	"context"
	"slices"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var secretHostsTests = []struct {
	hosts []string
	want  []string // nil with ok false: Invalid
	ok    bool
}{
	{nil, nil, true},
	{[]string{"api.github.com"}, []string{"api.github.com"}, true},
	{[]string{"API.GitHub.com.", "*.Example.com", "api.github.com"}, []string{"*.example.com", "api.github.com"}, true},
	{[]string{"127.0.0.1"}, nil, false},
	{[]string{"0x7f.1"}, nil, false},
	{[]string{"[::1]"}, nil, false},
	{[]string{"api.github.com:443"}, nil, false},
	{[]string{"*"}, nil, false},
	{[]string{"*.com"}, nil, false},
	{[]string{"a.*.example.com"}, nil, false},
	{[]string{"*example.com"}, nil, false},
	{[]string{""}, nil, false},
	{[]string{"https://api.github.com"}, nil, false},
}

// A secret's hosts are checked and stored canonical; addresses, ports and
// wildcards other than a leading "*." under a two-label domain are refused.
func TestSecretHosts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a := mustTenant(t, db, "a")
	for _, tt := range secretHostsTests {
		err := db.SetSecret(ctx, a, "TOKEN", "value-long-enough", tt.hosts...)
		if !tt.ok {
			if bulwark.ErrorKind(err) != bulwark.Invalid {
				t.Errorf("SetSecret(hosts %q) = %v, want Invalid", tt.hosts, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("SetSecret(hosts %q) = %v", tt.hosts, err)
			continue
		}
		all, err := db.Secrets(ctx, a)
		if err != nil || len(all) != 1 || !slices.Equal(all[0].Hosts, tt.want) || all[0].Value != "value-long-enough" {
			t.Errorf("after SetSecret(hosts %q), Secrets = %+v, %v; want hosts %q", tt.hosts, all, err, tt.want)
		}
		infos, err := db.ListSecrets(ctx, a)
		if err != nil || len(infos) != 1 || len(infos[0].Hosts) != len(tt.want) {
			t.Errorf("after SetSecret(hosts %q), ListSecrets = %+v, %v", tt.hosts, infos, err)
		}
	}
}

// The hosts are bound into the sealed value: rebinding a secret to another
// host in the database, without the key, makes it fail to open.
func TestSecretHostsTampered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a := mustTenant(t, db, "a")
	const value = "bound-value-123"
	if err := db.SetSecret(ctx, a, "TOKEN", value, "api.github.com"); err != nil {
		t.Fatal(err)
	}
	for _, hosts := range []string{"evil.example.com", "api.github.com,evil.example.com", ""} {
		if _, err := db.w.Exec(`UPDATE secrets SET hosts = ? WHERE tenant_id = ?`, hosts, a); err != nil {
			t.Fatal(err)
		}
		all, err := db.Secrets(ctx, a)
		checkDoesNotOpen(t, "Secrets with hosts changed to "+hosts, all, err, value)
		vals, err := db.SecretValues(ctx, a)
		checkDoesNotOpen(t, "SecretValues with hosts changed to "+hosts, vals, err, value)
	}
}
