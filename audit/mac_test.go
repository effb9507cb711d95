package audit

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
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

func appendN(t *testing.T, c *Chains, tenant string, n int) {
	t.Helper()
	for i := range n {
		if err := c.Append(context.Background(), Record{TenantID: tenant, Actor: "u", Action: "tool.call", Target: fmt.Sprint(i), Outcome: OutcomeOK}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChainRemovedAndMadeAgain: a tenant's chain removed whole (its
// files) while the server is down is made again by the next record, with
// a second record of its creation in the system chain: that fails the
// chain, in VerifyAll and in Chains.Verify (red team of the MACs, session
// 44: both said intact, the 20 records before gone).
func TestChainRemovedAndMadeAgain(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	dir := t.TempDir()
	opt := Options{SigningKey: key, StrictMACs: true, CheckpointEvery: 5, Now: fixedClock()}
	c, err := OpenChains(ctx, FileDir{Path: dir}, opt)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, c, "t1", 20)
	appendN(t, c, "t2", 3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"", ".checkpoints", ".idx"} {
		os.Remove(filepath.Join(dir, "tenants", "t1.log"+side))
	}
	if c, err = OpenChains(ctx, FileDir{Path: dir}, opt); err != nil {
		t.Fatal(err)
	}
	appendN(t, c, "t1", 2)
	if _, err := c.Verify(ctx, "t1"); err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("Chains.Verify of the chain made again: %v; want its creation recorded twice", err)
	}
	if _, err := c.Verify(ctx, "t2"); err != nil {
		t.Errorf("Chains.Verify of another tenant's chain: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	reps, err := VerifyAll(ctx, FileDir{Path: dir, ReadOnly: true}, pub(key))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		switch {
		case r.Chain == "t1" && (r.Err == nil || !strings.Contains(r.Err.Error(), "more than once")):
			t.Errorf("VerifyAll, the chain made again: %v; want its creation recorded twice", r.Err)
		case r.Chain != "t1" && r.Err != nil:
			t.Errorf("VerifyAll, chain %q: %v", r.Chain, r.Err)
		}
	}
}

// TestVerifyFullKeepsTheMark: a full verification does not find intact,
// nor mark so, less than an earlier one vouched for: a chain of an
// older key with its MACs removed and a record rewritten, or a strict
// chain cut with its checkpoints (red team of the MACs, session 44:
// VerifyFull passed what Verify had just failed, then Verify passed too).
func TestVerifyFullKeepsTheMark(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		strict bool
		tamper func(t *testing.T, path string)
		want   string
	}{
		{"MACs removed, a record rewritten", false, func(t *testing.T, path string) {
			rechain(t, path, func(i int, r *Record) { // rechain drops the MACs
				if i == 2 {
					r.Target = "forged"
				}
			})
			os.Remove(path + ".checkpoints")
			os.Remove(path + ".idx")
		}, "changed since"},
		{"cut with its checkpoints", true, func(t *testing.T, path string) {
			writeLines(t, path, readLines(t, path)[:6])
			os.Remove(path + ".checkpoints")
			os.Remove(path + ".idx")
		}, "truncated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := OpenChains(ctx, FileDir{Path: dir}, Options{SigningKey: testKey(t), StrictMACs: tt.strict, CheckpointEvery: 1000, Now: fixedClock()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			appendN(t, c, "t1", 10)
			if _, err := c.Verify(ctx, "t1"); err != nil {
				t.Fatal(err)
			}
			tt.tamper(t, filepath.Join(dir, "tenants", "t1.log"))
			if _, err := c.Verify(ctx, "t1"); err == nil {
				t.Error("Verify after the change: intact")
			}
			if _, err := c.VerifyFull(ctx, "t1"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("VerifyFull after the change: %v; want %q", err, tt.want)
			}
			if _, err := c.Verify(ctx, "t1"); err == nil {
				t.Error("Verify after VerifyFull: intact (the mark moved)")
			}
		})
	}
}

// TestWentBack: the head a shared store gives may be ahead of the one a
// Log last wrote (others appended), never behind it nor the same record
// with another hash. (A file store sees a cut; a record rewritten in
// place to the same length only PostgreSQL's head shows.)
func TestWentBack(t *testing.T) {
	h, other := Hash{1}, Hash{2}
	for _, tt := range []struct {
		seq  uint64
		head Hash
		want string
	}{
		{10, h, ""},
		{12, other, ""},
		{9, other, "removed under it"},
		{0, Hash{}, "removed under it"},
		{10, other, "rewritten under it"},
	} {
		err := wentBack(10, h, tt.seq, tt.head)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("wentBack(10, known, %d, ...) = %v, want %q", tt.seq, err, tt.want)
		}
	}
}
