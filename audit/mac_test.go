package audit

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMACBindsKeyAndChain: a record's MAC holds only for its hash, in its
// chain, under its signing key.
func TestMACBindsKeyAndChain(t *testing.T) {
	k1, k2 := macKey(testKey(t)), macKey(testKey(t))
	h := Hash{1, 2, 3}
	m := recordMAC(k1, "t1", h)
	for _, other := range []Hash{recordMAC(k2, "t1", h), recordMAC(k1, "t2", h), recordMAC(k1, "", h), recordMAC(k1, "t1", Hash{1, 2, 4})} {
		if other == m {
			t.Errorf("MAC %v holds for another key, chain or hash", m)
		}
	}
	if recordMAC(k1, "t1", h) != m {
		t.Error("the MAC is not a function of key, chain and hash")
	}
	if KeyOf(nil, true).ChecksMACs() || PublicOnly(nil).ChecksMACs() || !pub(testKey(t)).ChecksMACs() {
		t.Error("ChecksMACs wrong")
	}
}

// stripMACs removes the MAC of the records of path from index from on, as
// a log of a release before MACs has them (the hashes do not cover MACs).
func stripMACs(t *testing.T, path string, from int) {
	t.Helper()
	lines := readLines(t, path)
	for i := from; i < len(lines); i++ {
		if len(lines[i]) == 0 {
			continue
		}
		r, err := DecodeRecord(lines[i])
		if err != nil {
			t.Fatal(err)
		}
		r.MAC = Hash{}
		if lines[i], err = EncodeRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	writeLines(t, path, lines)
}

// TestMACsOfAnOlderKey: a log begun by a release before MACs (its key not
// strict) verifies with its records without MACs before the first with
// one; a MAC removed after that is found. With a strict key every record
// must have one.
func TestMACsOfAnOlderKey(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	path := mustFileLog(t, key, 6, 5)
	stripMACs(t, path, 0) // written before MACs
	if _, err := verifyFile(t, path, KeyOf(key, false)); err != nil {
		t.Fatalf("a log from before MACs, its key not strict: %v", err)
	}
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLog(ctx, s, Options{SigningKey: key, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := l.Append(ctx, sampleRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := verifyFile(t, path, KeyOf(key, false))
	if err != nil || rep.Records != 10 || !rep.MACs {
		t.Fatalf("older records, then records with MACs: %+v, %v", rep, err)
	}
	var p *Problem
	if _, err := verifyFile(t, path, KeyOf(key, true)); !errors.As(err, &p) || p.Seq != 1 || !strings.Contains(p.Reason, "no MAC") {
		t.Errorf("strict key over records without MACs: %v; want record 1 without a MAC", err)
	}
	stripMACs(t, path, 8) // records 9 and 10
	if _, err := verifyFile(t, path, KeyOf(key, false)); !errors.As(err, &p) || p.Seq != 9 || !strings.Contains(p.Reason, "record 7 before it has one") {
		t.Errorf("MACs removed after the first: %v; want record 9 named", err)
	}
	if _, err := verifyFile(t, path, PublicOnly(pub(key).pub)); err != nil {
		t.Errorf("with the public key alone, the MACs are not checked: %v", err)
	}
}

// TestSigningKeyStrict: a key file made now says every record has a MAC;
// one made by an earlier release (no header) does not.
func TestSigningKeyStrict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.key")
	key, strict, err := LoadOrCreateSigningKey(path)
	if err != nil || !strict {
		t.Fatalf("new key: strict %v, %v; want strict", strict, err)
	}
	if _, strict, err := LoadOrCreateSigningKey(path); err != nil || !strict {
		t.Fatalf("new key loaded: strict %v, %v; want strict", strict, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	old := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	k, strict, err := LoadOrCreateSigningKey(path)
	if err != nil || strict || !k.Equal(key) {
		t.Fatalf("key file of an earlier release: strict %v, same %v, %v; want the key, not strict", strict, k.Equal(key), err)
	}
	data, _ := os.ReadFile(path)
	if !bytes.Equal(data, old) {
		t.Error("loading a key rewrote its file")
	}
}
