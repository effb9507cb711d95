package storetest

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testSecretInject: where in a request a secret may go is stored with it,
// read back by Secrets and ListSecrets, headers only when not chosen (as
// SetSecret, and every secret stored before the choice existed, leave it);
// a choice for an unbound secret is Invalid; and widening it in the
// database behind the store's back makes the value fail to open.
func testSecretInject(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	h := harness(t, open(t))
	a := mustTenant(t, h, "a")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bulwark.SecretInject{
		"HDR":  {},
		"BODY": {Body: true},
		"ALL":  {URL: true, Body: true},
	}
	must(h.SetSecret(ctx, a, "HDR", "hdr-value-123", "api.example.com"))
	must(h.PutSecret(ctx, a, bulwark.Secret{Name: "BODY", Value: "body-value-123", Hosts: []string{"up.example.com"}, Inject: want["BODY"]}))
	must(h.PutSecret(ctx, a, bulwark.Secret{Name: "ALL", Value: "all-value-1234", Hosts: []string{"*.example.com"}, Inject: want["ALL"]}))
	all, err := h.Secrets(ctx, a)
	must(err)
	for _, s := range all {
		if s.Inject != want[s.Name] {
			t.Errorf("Secrets: %s inject %v, want %v", s.Name, s.Inject, want[s.Name])
		}
	}
	infos, err := h.ListSecrets(ctx, a)
	must(err)
	for _, s := range infos {
		if s.Inject != want[s.Name] {
			t.Errorf("ListSecrets: %s inject %v, want %v", s.Name, s.Inject, want[s.Name])
		}
	}
	if len(all) != 3 || len(infos) != 3 {
		t.Errorf("Secrets = %d, ListSecrets = %d, want 3", len(all), len(infos))
	}

	// Narrowed by a later set, as any field.
	must(h.SetSecret(ctx, a, "ALL", "all-value-1234", "*.example.com"))
	all, err = h.Secrets(ctx, a)
	must(err)
	for _, s := range all {
		if s.Name == "ALL" && !s.Inject.IsHeadersOnly() {
			t.Errorf("after SetSecret, ALL inject = %v, want headers only", s.Inject)
		}
	}

	err = h.PutSecret(ctx, a, bulwark.Secret{Name: "LOOSE", Value: "loose-value-123", Inject: bulwark.SecretInject{Body: true}})
	if !kindIs(err, bulwark.Invalid) {
		t.Errorf("PutSecret(unbound, inject body) = %v, want Invalid", err)
	}

	// Widened behind the store's back: the value no longer opens.
	h.Exec(t, `UPDATE secrets SET inject = 'headers,url,body' WHERE tenant_id = ? AND name = 'HDR'`, a)
	got, err := h.Secrets(ctx, a)
	checkDoesNotOpen(t, "a secret whose inject was widened", got, err, "hdr-value-123")
}
