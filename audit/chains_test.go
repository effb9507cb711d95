package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mustChains writes records to a new FileDir: per tenant of counts, that
// many records, interleaved; and system records. It closes the chains and
// returns the folder.
func mustChains(t *testing.T, key ed25519.PrivateKey, counts map[string]int, system int) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	c, err := OpenChains(ctx, FileDir{Path: dir}, Options{SigningKey: key, CheckpointEvery: 4, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		more := false
		for tenant, n := range counts {
			if i < n {
				more = true
				if err := c.Append(ctx, Record{TenantID: tenant, Actor: "u", Action: "tool.call", Target: fmt.Sprint(i), Outcome: OutcomeOK}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if i < system {
			more = true
			if err := c.Append(ctx, Record{Actor: "anonymous", Action: "auth.failed", Outcome: OutcomeDenied}); err != nil {
				t.Fatal(err)
			}
		}
		if !more {
			break
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// verifyAll verifies dir read-only and returns the error of each chain.
func verifyAll(t *testing.T, dir string, key ed25519.PrivateKey) map[string]error {
	t.Helper()
	reps, err := VerifyAll(context.Background(), FileDir{Path: dir, ReadOnly: true}, pub(key))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]error{}
	for _, r := range reps {
		out[r.Chain] = r.Err
	}
	return out
}

func TestTenantNumberingIsItsOwn(t *testing.T) {
	key := testKey(t)
	dir := mustChains(t, key, map[string]int{"tn_a": 3, "tn_b": 50}, 7)
	c, err := OpenChains(context.Background(), FileDir{Path: dir}, Options{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var seqs []uint64
	for r, err := range c.Read(context.Background(), "tn_a", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if r.TenantID != "tn_a" {
			t.Errorf("tenant tn_a's chain holds a record of %q", r.TenantID)
		}
		seqs = append(seqs, r.Seq)
	}
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Errorf("tn_a's sequence numbers = %v, want [1 2 3] whatever tn_b and the system recorded", seqs)
	}
	rep, err := c.Verify(context.Background(), "tn_a")
	if err != nil || rep.Records != 3 {
		t.Errorf("Verify(tn_a) = %d records, %v; want 3 records, intact", rep.Records, err)
	}
	if n, _, _ := c.Head(context.Background(), "tn_b"); n != 50 {
		t.Errorf("tn_b's head = %d, want 50", n)
	}
	var created []string
	for r, err := range c.Read(context.Background(), SystemChain, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if r.TenantID != "" {
			t.Errorf("the system chain holds a record of tenant %q", r.TenantID)
		}
		if r.Action == ActionChainCreate {
			created = append(created, r.Target)
		}
	}
	if len(created) != 2 {
		t.Errorf("the system chain records the creation of %v, want tn_a and tn_b", created)
	}
	if _, err := os.Stat(filepath.Join(dir, "tenants", "tn_a.log.checkpoints")); err != nil {
		t.Errorf("tenant chain has no checkpoints: %v", err)
	}
}

func TestChainNamesAreTenantIDs(t *testing.T) {
	c, err := OpenChains(context.Background(), FileDir{Path: t.TempDir()}, Options{SigningKey: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, bad := range []string{"../x", "a/b", ".hidden", "x y", strings.Repeat("a", 101)} {
		if err := c.Append(context.Background(), Record{TenantID: bad, Action: "x"}); err == nil {
			t.Errorf("Append with tenant %q succeeded", bad)
		}
	}
}

// TestTamperEachChainKind changes, deletes and reorders records of the
// system chain and of a tenant's chain, swaps chains, and removes a
// tenant's chain: each is found, in the chain it was done to.
func TestTamperEachChainKind(t *testing.T) {
	key := testKey(t)
	lines := func(t *testing.T, p string, change func([][]byte) [][]byte) {
		writeLines(t, p, change(readLines(t, p)))
	}
	tests := []struct {
		name   string
		chain  string // the chain that must fail
		change func(t *testing.T, dir string)
	}{
		{"system: change a record", SystemChain, func(t *testing.T, dir string) {
			lines(t, filepath.Join(dir, "audit.log"), func(l [][]byte) [][]byte {
				l[2] = []byte(strings.Replace(string(l[2]), "auth.failed", "auth.fai1ed", 1))
				return l
			})
		}},
		{"system: delete a record", SystemChain, func(t *testing.T, dir string) {
			lines(t, filepath.Join(dir, "audit.log"), func(l [][]byte) [][]byte { return append(l[:2:2], l[3:]...) })
		}},
		{"system: reorder", SystemChain, func(t *testing.T, dir string) {
			lines(t, filepath.Join(dir, "audit.log"), func(l [][]byte) [][]byte { l[3], l[4] = l[4], l[3]; return l })
		}},
		{"tenant: change a record", "tn_a", func(t *testing.T, dir string) {
			lines(t, filepath.Join(dir, "tenants", "tn_a.log"), func(l [][]byte) [][]byte {
				l[1] = []byte(strings.Replace(string(l[1]), `"outcome":"ok"`, `"outcome":"no"`, 1))
				return l
			})
		}},
		{"tenant: delete a record", "tn_a", func(t *testing.T, dir string) {
			lines(t, filepath.Join(dir, "tenants", "tn_a.log"), func(l [][]byte) [][]byte { return append(l[:1:1], l[2:]...) })
		}},
		{"tenant: reorder", "tn_a", func(t *testing.T, dir string) {
			lines(t, filepath.Join(dir, "tenants", "tn_a.log"), func(l [][]byte) [][]byte { l[0], l[1] = l[1], l[0]; return l })
		}},
		{"tenant: truncate behind a checkpoint", "tn_a", func(t *testing.T, dir string) {
			lines(t, filepath.Join(dir, "tenants", "tn_a.log"), func(l [][]byte) [][]byte { return l[:3] })
		}},
		{"tenant: another tenant's chain in its place", "tn_a", func(t *testing.T, dir string) {
			for _, ext := range []string{".log", ".log.checkpoints"} {
				b, err := os.ReadFile(filepath.Join(dir, "tenants", "tn_b"+ext))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir, "tenants", "tn_a"+ext), b, 0o600)
			}
		}},
		{"tenant: chain removed", "tn_a", func(t *testing.T, dir string) {
			for _, ext := range []string{".log", ".log.checkpoints", ".log.idx"} {
				os.Remove(filepath.Join(dir, "tenants", "tn_a"+ext))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := mustChains(t, key, map[string]int{"tn_a": 6, "tn_b": 6}, 6)
			if errs := verifyAll(t, dir, key); len(errs) != 3 || errs[""] != nil || errs["tn_a"] != nil || errs["tn_b"] != nil {
				t.Fatalf("untouched chains: %v", errs)
			}
			tt.change(t, dir)
			errs := verifyAll(t, dir, key)
			for chain, err := range errs {
				var p *Problem
				if chain == tt.chain && !errors.As(err, &p) {
					t.Errorf("%s: chain %q verified (%v), want a problem", tt.name, chain, err)
				}
				if chain != tt.chain && err != nil {
					t.Errorf("%s: chain %q, untouched, failed: %v", tt.name, chain, err)
				}
			}
			if _, ok := errs[tt.chain]; !ok {
				t.Errorf("%s: chain %q not reported", tt.name, tt.chain)
			}
		})
	}
}

// TestVerifyIsIncremental: a second verification reads only what was
// added since the first, and still finds a change to what it reads, or to
// the record it resumes from, and a truncation.
func TestVerifyIsIncremental(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	tests := []struct {
		name    string
		tamper  func(t *testing.T, path string)
		problem string // "" for none
	}{
		{"nothing changed", func(*testing.T, string) {}, ""},
		{"a new record changed", func(t *testing.T, p string) {
			l := readLines(t, p)
			l[12] = []byte(strings.Replace(string(l[12]), `"actor":"u"`, `"actor":"v"`, 1))
			writeLines(t, p, l)
		}, "hash does not match"},
		{"the last verified record changed", func(t *testing.T, p string) {
			rechain(t, p, func(i int, r *Record) {
				if i == 9 {
					r.Actor = "v"
				}
			})
		}, "changed since"},
		{"truncated", func(t *testing.T, p string) {
			writeLines(t, p, readLines(t, p)[:8])
		}, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := OpenChains(ctx, FileDir{Path: dir}, Options{SigningKey: key, CheckpointEvery: 1000, Now: fixedClock()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			add := func(n int) {
				for range n {
					if err := c.Append(ctx, Record{TenantID: "tn_a", Actor: "u", Action: "x", Outcome: OutcomeOK}); err != nil {
						t.Fatal(err)
					}
				}
			}
			add(10)
			if rep, err := c.Verify(ctx, "tn_a"); err != nil || rep.Read != 10 {
				t.Fatalf("first Verify = read %d, %v; want 10 read, intact", rep.Read, err)
			}
			add(5)
			tt.tamper(t, filepath.Join(dir, "tenants", "tn_a.log"))
			rep, err := c.Verify(ctx, "tn_a")
			if tt.problem == "" {
				if err != nil || rep.Records != 15 || rep.Read != 6 {
					t.Errorf("second Verify = %d records, %d read, %v; want 15, 6 (the last verified and the 5 new), intact", rep.Records, rep.Read, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("second Verify = %v, want a problem with %q", err, tt.problem)
			}
		})
	}
}

// TestReadSeeksByIndex: reading from a record does not read those before
// it (a broken first line does not stop it), and a broken index is
// rebuilt.
func TestReadSeeksByIndex(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	path := mustFileLog(t, key, 20, 100)
	l := readLines(t, path)
	l[0] = []byte("garbage\n")
	writeLines(t, path, l)
	s, err := OpenFileReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []uint64
	for r, err := range s.Read(ctx, 15) {
		if err != nil {
			t.Fatalf("Read(15): %v (it read the lines before 15)", err)
		}
		got = append(got, r.Seq)
	}
	if fmt.Sprint(got) != "[15 16 17 18 19 20]" {
		t.Errorf("Read(15) = %v", got)
	}

	path = mustFileLog(t, key, 20, 100)
	os.WriteFile(path+".idx", []byte("0123456789abcdefXYZ"), 0o600) // wrong, and not whole entries
	w, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	got = nil
	for r, err := range w.Read(ctx, 7) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Seq)
	}
	if len(got) != 14 || got[0] != 7 {
		t.Errorf("Read(7) with a rebuilt index = %v", got)
	}
	if fi, _ := os.Stat(path + ".idx"); fi == nil || fi.Size() != 20*indexEntry {
		t.Errorf("the index was not rebuilt: %v", fi)
	}
}

// TestLegacyLogIsTheSystemChain: the single log of earlier releases, with
// every tenant's records and unnamed checkpoints, verifies as the system
// chain, and new records continue it.
func TestLegacyLogIsTheSystemChain(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	dir := t.TempDir()
	s, err := OpenFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLog(ctx, s, Options{SigningKey: key, CheckpointEvery: 3, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		l.Append(ctx, sampleRecord(i)) // tenant t1's records, in the one log
	}
	l.Close()
	os.Remove(filepath.Join(dir, "audit.log.idx")) // earlier releases kept none
	c, err := OpenChains(ctx, FileDir{Path: dir}, Options{SigningKey: key, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	c.Append(ctx, Record{Actor: "cli", Action: "key.rotate_master", Outcome: OutcomeOK})
	c.Append(ctx, Record{TenantID: "t1", Actor: "cli", Action: "secret.set", Outcome: OutcomeOK})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	errs := verifyAll(t, dir, key)
	if len(errs) != 2 || errs[""] != nil || errs["t1"] != nil {
		t.Errorf("VerifyAll = %v, want the system and t1 chains intact", errs)
	}
	ro, _ := OpenFileReadOnly(filepath.Join(dir, "audit.log"))
	defer ro.Close()
	if seq, _, _ := ro.Head(ctx); seq != 9 {
		t.Errorf("system chain head = %d, want 9 (7 old, 1 new, 1 chain creation)", seq)
	}
}

// TestChainsConcurrent appends to several chains from many goroutines
// while reading and verifying them; every chain ends intact and whole.
func TestChainsConcurrent(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	dir := t.TempDir()
	c, err := OpenChains(ctx, FileDir{Path: dir}, Options{SigningKey: key, CheckpointEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	tenants := []string{"tn_1", "tn_2", "tn_3", ""}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 40 {
				tn := tenants[(g+i)%len(tenants)]
				if err := c.Append(ctx, Record{TenantID: tn, Actor: "u", Action: "x", Outcome: OutcomeOK}); err != nil {
					done <- err
					return
				}
				if i%10 == 0 {
					if _, err := c.Verify(ctx, tn); err != nil {
						done <- err
						return
					}
					for _, err := range c.Read(ctx, tn, 2) {
						if err != nil {
							done <- err
							return
						}
					}
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	errs := verifyAll(t, dir, key)
	for chain, err := range errs {
		if err != nil {
			t.Errorf("chain %q: %v", chain, err)
		}
	}
	if len(errs) != 4 {
		t.Errorf("chains %v, want 4", errs)
	}
}

// TestVerifyAfterAFailedFullVerify: a full verification of the system
// chain that fails forgets nothing the incremental ones knew: once the
// system chain is put back, a tenant's chain verifies again.
func TestVerifyAfterAFailedFullVerify(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	dir := mustChains(t, key, map[string]int{"tn_a": 3}, 2)
	c, err := OpenChains(ctx, FileDir{Path: dir}, Options{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Verify(ctx, "tn_a"); err != nil {
		t.Fatalf("untouched: %v", err)
	}
	sys := filepath.Join(dir, "audit.log")
	orig, err := os.ReadFile(sys)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(sys, []byte(strings.Replace(string(orig), "auth.failed", "auth.fai1ed", 1)), 0o600)
	if _, err := c.VerifyFull(ctx, SystemChain); err == nil {
		t.Fatal("VerifyFull of a changed system chain passed")
	}
	os.WriteFile(sys, orig, 0o600)
	if rep, err := c.Verify(ctx, "tn_a"); err != nil {
		t.Errorf("Verify(tn_a) once the system chain is back = %+v, %v; want intact", rep, err)
	}
}
