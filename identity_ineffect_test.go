package bulwark

import (
	"testing"
	"time"
)

// A key's expiry in effect is the earliest along the keys it was made
// from; a key of the chain gone, or a chain that does not end, is no key.
func TestAPIKeyInEffect(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	root := APIKey{ID: "k_root"}
	mid := APIKey{ID: "k_mid", CreatorKey: "k_root", Expires: t0.Add(3 * time.Hour)}
	leaf := APIKey{ID: "k_leaf", CreatorKey: "k_mid"}
	rotated := root
	rotated.Expires = t0.Add(time.Hour)
	for _, c := range []struct {
		name string
		k    APIKey
		keys []APIKey
		want time.Time
		ok   bool
	}{
		{"made by no key", root, []APIKey{root}, time.Time{}, true},
		{"its own expiry", mid, []APIKey{root, mid}, t0.Add(3 * time.Hour), true},
		{"its maker's expiry", leaf, []APIKey{root, mid, leaf}, t0.Add(3 * time.Hour), true},
		{"the first key rotated", leaf, []APIKey{rotated, mid, leaf}, t0.Add(time.Hour), true},
		{"a key of the chain revoked", leaf, []APIKey{root, leaf}, time.Time{}, false},
		{"a cycle", APIKey{ID: "k_a", CreatorKey: "k_b"}, []APIKey{{ID: "k_a", CreatorKey: "k_b"}, {ID: "k_b", CreatorKey: "k_a"}}, time.Time{}, false},
	} {
		got, ok := c.k.InEffect(c.keys)
		if ok != c.ok || ok && !got.Expires.Equal(c.want) {
			t.Errorf("%s: InEffect = %v, %v; want %v, %v", c.name, got.Expires, ok, c.want, c.ok)
		}
		if got.ID != c.k.ID {
			t.Errorf("%s: InEffect returned key %s, want %s", c.name, got.ID, c.k.ID)
		}
	}
}
