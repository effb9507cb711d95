package secret

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := NewKey()
	ad := AD("tn_a", "secret", "API_KEY")
	v, err := Seal(key, 7, ad, []byte("hunter2-value"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := KeyVersion(v); err != nil || got != 7 {
		t.Errorf("KeyVersion = %d, %v; want 7, nil", got, err)
	}
	pt, err := Open(key, ad, v)
	if err != nil || string(pt) != "hunter2-value" {
		t.Fatalf("Open = %q, %v; want the plaintext", pt, err)
	}
	if bytes.Contains(v, []byte("hunter2")) {
		t.Error("the sealed value contains the plaintext")
	}
}

// openFailures are changes to a sealed value or its context that must make
// Open fail.
var openFailures = []struct {
	name   string
	change func(key, ad, v []byte) ([]byte, []byte, []byte)
	want   error
}{
	{"other tenant", func(k, _, v []byte) ([]byte, []byte, []byte) { return k, AD("tn_b", "secret", "API_KEY"), v }, ErrOpen},
	{"other kind", func(k, _, v []byte) ([]byte, []byte, []byte) { return k, AD("tn_a", "event", "API_KEY"), v }, ErrOpen},
	{"other record", func(k, _, v []byte) ([]byte, []byte, []byte) { return k, AD("tn_a", "secret", "OTHER"), v }, ErrOpen},
	{"parts shifted", func(k, _, v []byte) ([]byte, []byte, []byte) { return k, AD("tn_as", "ecret", "API_KEY"), v }, ErrOpen},
	{"other key", func(_, ad, v []byte) ([]byte, []byte, []byte) { return NewKey(), ad, v }, ErrOpen},
	{"key version changed", func(k, ad, v []byte) ([]byte, []byte, []byte) {
		v = bytes.Clone(v)
		v[4] ^= 1
		return k, ad, v
	}, ErrOpen},
	{"ciphertext changed", func(k, ad, v []byte) ([]byte, []byte, []byte) {
		v = bytes.Clone(v)
		v[len(v)-1] ^= 1
		return k, ad, v
	}, ErrOpen},
	{"unknown format", func(k, ad, v []byte) ([]byte, []byte, []byte) {
		v = bytes.Clone(v)
		v[0] = 9
		return k, ad, v
	}, ErrFormat},
	{"truncated", func(k, ad, v []byte) ([]byte, []byte, []byte) { return k, ad, v[:Overhead-1] }, ErrFormat},
}

func TestOpenRefuses(t *testing.T) {
	key := NewKey()
	ad := AD("tn_a", "secret", "API_KEY")
	v, err := Seal(key, 1, ad, []byte("value"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range openFailures {
		k, a, c := tc.change(key, ad, v)
		pt, err := Open(k, a, c)
		if !errors.Is(err, tc.want) || pt != nil {
			t.Errorf("%s: Open = %q, %v; want nil, %v", tc.name, pt, err, tc.want)
		}
	}
}

func FuzzOpen(f *testing.F) {
	key := NewKey()
	v, _ := Seal(key, 1, nil, []byte("x"))
	f.Add(v)
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if pt, err := Open(key, nil, b); err == nil && !bytes.Equal(b, v) {
			t.Fatalf("Open accepted a value it did not seal: %q", pt)
		}
	})
}
