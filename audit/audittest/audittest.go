// Package audittest checks that an audit.Backend keeps the audit log's
// promises: chains of their own for each tenant, any change, deletion,
// reordering or truncation of stored records found by verification in the
// chain it was done to, verification that resumes where it stopped, reads
// that start at a record, and writers (in several processes or nodes)
// that append to one chain at once and each chain after the others.
// FileDir's tests and pgaudit's run it.
package audittest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/audit"
)

// Storage is the storage of a backend under test, empty when made.
type Storage interface {
	// Backend returns a Backend on the storage. Each call returns a new
	// one, with connections and locks of its own, as another process or
	// node would have.
	Backend(t *testing.T) audit.Backend
	// Lines returns the stored forms of chain's records, or of its
	// checkpoints, in stored order, each without a newline.
	Lines(t *testing.T, chain string, checkpoints bool) [][]byte
	// SetLines replaces them, as someone who can write the storage would.
	SetLines(t *testing.T, chain string, checkpoints bool, lines [][]byte)
	// Remove deletes chain whole.
	Remove(t *testing.T, chain string)
}

// Run runs every scenario, each on a storage newStorage makes.
func Run(t *testing.T, newStorage func(t *testing.T) Storage) {
	t.Run("TenantNumbering", func(t *testing.T) { TenantNumbering(t, newStorage(t)) })
	t.Run("TamperRecords", func(t *testing.T) { TamperRecords(t, newStorage) })
	t.Run("TamperEachChainKind", func(t *testing.T) { TamperEachChainKind(t, newStorage) })
	t.Run("IncrementalVerify", func(t *testing.T) { IncrementalVerify(t, newStorage) })
	t.Run("VerifyFindsDeletion", func(t *testing.T) { VerifyFindsDeletion(t, newStorage) })
	t.Run("CutUnderARunningLog", func(t *testing.T) { CutUnderARunningLog(t, newStorage) })
	t.Run("ReadFrom", func(t *testing.T) { ReadFrom(t, newStorage(t)) })
	t.Run("Concurrent", func(t *testing.T) { Concurrent(t, newStorage(t)) })
	t.Run("Shared", func(t *testing.T) { Shared(t, newStorage(t), 2, 4, 40) })
}

// Key returns a new signing key.
func Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) audit.Key { return audit.KeyOf(k, true) }

// Clock returns a clock that ticks one millisecond per call.
func Clock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

// Fill appends to the chains of s: per tenant of counts, that many
// records, interleaved, and system records; then it closes the chains.
func Fill(t *testing.T, s Storage, key ed25519.PrivateKey, every int, counts map[string]int, system int) {
	t.Helper()
	ctx := context.Background()
	c, err := audit.OpenChains(ctx, s.Backend(t), audit.Options{SigningKey: key, CheckpointEvery: every, Now: Clock()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		more := false
		for tenant, n := range counts {
			if i < n {
				more = true
				r := audit.Record{TenantID: tenant, Actor: "u", Action: "tool.call", Target: fmt.Sprint(i), Outcome: audit.OutcomeOK,
					Details: map[string]string{"command": fmt.Sprintf("ls -l %d", i), "z": "\x00é\xff", "a": "<&>"}}
				if err := c.Append(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
		}
		if i < system {
			more = true
			if err := c.Append(ctx, audit.Record{Actor: "anonymous", Action: "auth.failed", Outcome: audit.OutcomeDenied}); err != nil {
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
}

// VerifyAll verifies every chain of s and returns each one's report.
func VerifyAll(t *testing.T, s Storage, key ed25519.PrivateKey) map[string]audit.ChainReport {
	t.Helper()
	reps, err := audit.VerifyAll(context.Background(), s.Backend(t), pub(key))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]audit.ChainReport{}
	for _, r := range reps {
		out[r.Chain] = r
	}
	return out
}

// TenantNumbering: each tenant's chain numbers its records from 1 and
// holds only its records; the system chain records each chain's creation.
func TenantNumbering(t *testing.T, s Storage) {
	ctx := context.Background()
	key := Key(t)
	Fill(t, s, key, 4, map[string]int{"tn_a": 3, "tn_b": 50}, 7)
	c, err := audit.OpenChains(ctx, s.Backend(t), audit.Options{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var seqs []uint64
	for r, err := range c.Read(ctx, "tn_a", 0) {
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
	if rep, err := c.Verify(ctx, "tn_a"); err != nil || rep.Records != 3 || rep.Signed != 3 {
		t.Errorf("Verify(tn_a) = %d records, %d signed, %v; want 3 records, all signed, intact", rep.Records, rep.Signed, err)
	}
	if n, _, _ := c.Head(ctx, "tn_b"); n != 50 {
		t.Errorf("tn_b's head = %d, want 50", n)
	}
	var created []string
	for r, err := range c.Read(ctx, audit.SystemChain, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if r.TenantID != "" {
			t.Errorf("the system chain holds a record of tenant %q", r.TenantID)
		}
		if r.Action == audit.ActionChainCreate {
			created = append(created, r.Target)
		}
	}
	if len(created) != 2 {
		t.Errorf("the system chain records the creation of %v, want tn_a and tn_b", created)
	}
}

// rechain recomputes the hash of every record of lines after change, as
// someone who can write the storage but lacks the key would.
func rechain(t *testing.T, lines [][]byte, change func(i int, r *audit.Record)) [][]byte {
	t.Helper()
	var out [][]byte
	var prev audit.Hash
	for i, line := range lines {
		r, err := audit.DecodeRecord(line)
		if err != nil {
			t.Fatal(err)
		}
		change(i, &r)
		r.Seq, r.PrevHash = uint64(i+1), prev
		r.Hash = audit.ComputeHash(&r)
		enc, err := audit.EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		prev = r.Hash
		out = append(out, enc[:len(enc)-1])
	}
	return out
}

// TamperRecords starts each case from a chain of 12 records with
// checkpoints after records 5, 10 and 12, changes it, and wants
// verification to name the first record affected: with the public key
// alone (the checkpoints; reason "" where they cannot tell), and with the
// signing key (the records' MACs too; macReason "" for the same problem).
func TamperRecords(t *testing.T, newStorage func(t *testing.T) Storage) {
	key, other := Key(t), Key(t)
	const tn = "t1"
	type lines = [][]byte
	stripMACs := func(t *testing.T, l lines) lines {
		return rechain(t, l, func(_ int, r *audit.Record) { r.MAC = audit.Hash{} })
	}
	tests := []struct {
		name      string
		records   func(t *testing.T, l lines) lines
		cps       func(t *testing.T, l lines) lines
		wantSeq   uint64
		reason    string
		macSeq    uint64
		macReason string
	}{
		{"delete a record", func(_ *testing.T, l lines) lines { return append(l[:3:3], l[4:]...) }, nil, 4, "found record 5", 0, ""},
		{"delete the last record", func(_ *testing.T, l lines) lines { return l[:11] }, nil, 12, "truncated", 0, ""},
		{"truncate behind a checkpoint", func(_ *testing.T, l lines) lines { return l[:7] }, nil, 8, "truncated", 0, ""},
		{"reorder two", func(_ *testing.T, l lines) lines { l[5], l[6] = l[6], l[5]; return l }, nil, 6, "found record 7", 0, ""},
		{"change a detail", func(_ *testing.T, l lines) lines {
			l[8] = []byte(strings.Replace(string(l[8]), "ls -l", "rm -f", 1))
			return l
		}, nil, 9, "hash does not match", 0, ""},
		{"insert a forged record", func(t *testing.T, l lines) lines {
			prev, err := audit.DecodeRecord(l[2])
			if err != nil {
				t.Fatal(err)
			}
			f := audit.Record{Seq: 4, Time: prev.Time, TenantID: tn, PrevHash: prev.Hash, Actor: "system", Action: "auth.login", Outcome: audit.OutcomeOK}
			f.Hash = audit.ComputeHash(&f)
			line, _ := audit.EncodeRecord(f)
			return append(l[:3:3], append(lines{line[:len(line)-1]}, l[3:]...)...)
		}, nil, 5, "found record 4", 4, "it has no MAC"},
		{"rewrite a record and recompute the chain", func(t *testing.T, l lines) lines {
			return rechain(t, l, func(i int, r *audit.Record) {
				if i == 2 {
					r.Outcome = audit.OutcomeDenied
				}
			})
		}, nil, 1, "differ from what the checkpoint signed", 3, "MAC does not match"},
		{"insert a record and recompute the chain", func(t *testing.T, l lines) lines {
			l = append(l[:8:8], append(lines{l[7]}, l[8:]...)...)
			return rechain(t, l, func(int, *audit.Record) {})
		}, nil, 6, "differ from what the checkpoint signed", 9, "MAC does not match"},
		// What the checkpoints cannot tell, the MACs do (red team,
		// session 42: whoever can write the log's storage deletes the
		// checkpoints over what they rewrite).
		{"rewrite a record, recompute the chain, drop the checkpoints", func(t *testing.T, l lines) lines {
			return rechain(t, l, func(i int, r *audit.Record) {
				if i == 6 {
					r.Actor = "someone-else"
				}
			})
		}, func(_ *testing.T, l lines) lines { return nil }, 0, "", 7, "MAC does not match"},
		{"remove every MAC, rewrite a record, recompute, drop the checkpoints", func(t *testing.T, l lines) lines {
			return rechain(t, stripMACs(t, l), func(i int, r *audit.Record) {
				if i == 10 {
					r.Outcome = audit.OutcomeOK
				}
			})
		}, func(_ *testing.T, l lines) lines { return nil }, 0, "", 1, "it has no MAC"},
		{"remove the MACs of the records after the last checkpoint", func(t *testing.T, l lines) lines {
			return append(l[:10:10], stripMACs(t, l)[10:]...)
		}, nil, 0, "", 11, "it has no MAC"},
		{"swap two records' MACs", func(_ *testing.T, l lines) lines {
			a, _ := audit.DecodeRecord(l[3])
			b, _ := audit.DecodeRecord(l[4])
			a.MAC, b.MAC = b.MAC, a.MAC
			la, _ := audit.EncodeRecord(a)
			lb, _ := audit.EncodeRecord(b)
			l[3], l[4] = la[:len(la)-1], lb[:len(lb)-1]
			return l
		}, nil, 0, "", 4, "MAC does not match"},
		{"forge a checkpoint with another key", nil, func(_ *testing.T, l lines) lines {
			c := audit.Checkpoint{Chain: tn, Size: 12, Head: audit.Hash{1}, Time: time.Date(2025, 3, 1, 12, 0, 1, 0, time.UTC)}
			c.Signature = ed25519.Sign(other, c.SignedBytes())
			line, _ := audit.EncodeCheckpoint(c)
			l[2] = line[:len(line)-1]
			return l
		}, 0, "bad signature", 0, ""},
		{"drop the checkpoints and truncate", func(_ *testing.T, l lines) lines { return l[:4] },
			func(_ *testing.T, l lines) lines { return l[:1] }, 5, "truncated", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStorage(t)
			Fill(t, s, key, 5, map[string]int{tn: 12}, 0)
			if got := len(s.Lines(t, tn, true)); got != 3 {
				t.Fatalf("%d checkpoints stored, want 3 (after records 5, 10 and 12)", got)
			}
			if r := VerifyAll(t, s, key)[tn]; r.Err != nil || r.Report.Records != 12 {
				t.Fatalf("untouched chain: %d records, %v", r.Report.Records, r.Err)
			}
			if tt.records != nil {
				s.SetLines(t, tn, false, tt.records(t, s.Lines(t, tn, false)))
			}
			if tt.cps != nil {
				s.SetLines(t, tn, true, tt.cps(t, s.Lines(t, tn, true)))
			}
			macSeq, macReason := tt.macSeq, tt.macReason
			if macReason == "" {
				macSeq, macReason = tt.wantSeq, tt.reason
			}
			for _, k := range []struct {
				name   string
				key    audit.Key
				seq    uint64
				reason string
			}{{"public key", audit.PublicOnly(key.Public().(ed25519.PublicKey)), tt.wantSeq, tt.reason}, {"signing key", pub(key), macSeq, macReason}} {
				reps, err := audit.VerifyAll(context.Background(), s.Backend(t), k.key)
				if err != nil {
					t.Fatal(err)
				}
				var r audit.ChainReport
				for _, rep := range reps {
					if rep.Chain == tn {
						r = rep
					}
				}
				if r.Report.MACs != k.key.ChecksMACs() {
					t.Errorf("%s, %s: Report.MACs = %v", tt.name, k.name, r.Report.MACs)
				}
				if k.reason == "" { // the public key cannot tell
					if r.Err != nil {
						t.Errorf("%s, %s: %v; want none found (the MACs are what find it)", tt.name, k.name, r.Err)
					}
					continue
				}
				var p *audit.Problem
				if !errors.As(r.Err, &p) || r.Report.Problem != p {
					t.Fatalf("%s, %s: verify = %+v, %v; want a *Problem", tt.name, k.name, r.Report, r.Err)
				}
				if p.Seq != k.seq || !strings.Contains(p.Reason, k.reason) {
					t.Errorf("%s, %s: problem %v (seq %d), want seq %d and %q", tt.name, k.name, p, p.Seq, k.seq, k.reason)
				}
			}
		})
	}
}

// TamperEachChainKind changes, deletes and reorders records of the system
// chain and of a tenant's chain, swaps chains, and removes a tenant's
// chain: each is found, in the chain it was done to, and only there.
func TamperEachChainKind(t *testing.T, newStorage func(t *testing.T) Storage) {
	key := Key(t)
	type lines = [][]byte
	edit := func(chain string, f func(lines) lines) func(*testing.T, Storage) {
		return func(t *testing.T, s Storage) { s.SetLines(t, chain, false, f(s.Lines(t, chain, false))) }
	}
	tests := []struct {
		name   string
		chain  string // the chain that must fail
		change func(t *testing.T, s Storage)
	}{
		{"system: change a record", audit.SystemChain, edit("", func(l lines) lines {
			l[2] = []byte(strings.Replace(string(l[2]), "auth.failed", "auth.fai1ed", 1))
			return l
		})},
		{"system: delete a record", audit.SystemChain, edit("", func(l lines) lines { return append(l[:2:2], l[3:]...) })},
		{"system: reorder", audit.SystemChain, edit("", func(l lines) lines { l[3], l[4] = l[4], l[3]; return l })},
		{"tenant: change a record", "tn_a", edit("tn_a", func(l lines) lines {
			l[1] = []byte(strings.Replace(string(l[1]), `"outcome":"ok"`, `"outcome":"no"`, 1))
			return l
		})},
		{"tenant: delete a record", "tn_a", edit("tn_a", func(l lines) lines { return append(l[:1:1], l[2:]...) })},
		{"tenant: reorder", "tn_a", edit("tn_a", func(l lines) lines { l[0], l[1] = l[1], l[0]; return l })},
		{"tenant: truncate behind a checkpoint", "tn_a", edit("tn_a", func(l lines) lines { return l[:3] })},
		{"tenant: another tenant's chain in its place", "tn_a", func(t *testing.T, s Storage) {
			for _, cps := range []bool{false, true} {
				s.SetLines(t, "tn_a", cps, s.Lines(t, "tn_b", cps))
			}
		}},
		{"tenant: chain removed", "tn_a", func(t *testing.T, s Storage) { s.Remove(t, "tn_a") }},
		{"tenant: emptied", "tn_a", func(t *testing.T, s Storage) { empty(t, s, "tn_a") }},
		{"system: emptied", audit.SystemChain, func(t *testing.T, s Storage) { empty(t, s, audit.SystemChain) }},
		{"system: chain removed", audit.SystemChain, func(t *testing.T, s Storage) { s.Remove(t, audit.SystemChain) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStorage(t)
			Fill(t, s, key, 4, map[string]int{"tn_a": 6, "tn_b": 6}, 6)
			reps := VerifyAll(t, s, key)
			if len(reps) != 3 || reps[""].Err != nil || reps["tn_a"].Err != nil || reps["tn_b"].Err != nil {
				t.Fatalf("untouched chains: %v", reps)
			}
			tt.change(t, s)
			reps = VerifyAll(t, s, key)
			for chain, r := range reps {
				var p *audit.Problem
				if chain == tt.chain && !errors.As(r.Err, &p) {
					t.Errorf("%s: chain %q verified (%v), want a problem", tt.name, chain, r.Err)
				}
				if chain != tt.chain && r.Err != nil {
					t.Errorf("%s: chain %q, untouched, failed: %v", tt.name, chain, r.Err)
				}
			}
			if _, ok := reps[tt.chain]; !ok {
				t.Errorf("%s: chain %q not reported", tt.name, tt.chain)
			}
		})
	}
}

// empty removes every record and checkpoint of chain, leaving it there.
func empty(t *testing.T, s Storage, chain string) {
	s.SetLines(t, chain, false, nil)
	s.SetLines(t, chain, true, nil)
}

// VerifyFindsDeletion: Chains.Verify of a tenant's chain fails when the
// chain was emptied or removed, or when the system chain, which records
// its creation, was: in the process that verified the chains before (and
// so knows where they ended), and in a new one.
func VerifyFindsDeletion(t *testing.T, newStorage func(t *testing.T) Storage) {
	ctx := context.Background()
	key := Key(t)
	tests := []struct {
		name   string
		change func(t *testing.T, s Storage)
	}{
		{"tenant emptied", func(t *testing.T, s Storage) { empty(t, s, "tn_a") }},
		{"tenant removed", func(t *testing.T, s Storage) { s.Remove(t, "tn_a") }},
		{"system emptied", func(t *testing.T, s Storage) { empty(t, s, audit.SystemChain) }},
		{"system removed", func(t *testing.T, s Storage) { s.Remove(t, audit.SystemChain) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStorage(t)
			Fill(t, s, key, 4, map[string]int{"tn_a": 6}, 3)
			open := func() *audit.Chains {
				c, err := audit.OpenChains(ctx, s.Backend(t), audit.Options{SigningKey: key})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			before := open()
			for _, chain := range []string{"tn_a", audit.SystemChain, "tn_none"} {
				if rep, err := before.Verify(ctx, chain); err != nil {
					t.Fatalf("untouched: Verify(%q) = %+v, %v", chain, rep, err)
				}
			}
			tt.change(t, s)
			var p *audit.Problem
			if rep, err := before.Verify(ctx, "tn_a"); !errors.As(err, &p) {
				t.Errorf("%s: Verify(tn_a) in the process that verified it before = %+v, %v; want a *Problem", tt.name, rep, err)
			}
			if rep, err := open().Verify(ctx, "tn_a"); !errors.As(err, &p) {
				t.Errorf("%s: Verify(tn_a) in a new process = %+v, %v; want a *Problem", tt.name, rep, err)
			}
			if rep, err := open().Verify(ctx, "tn_none"); strings.HasPrefix(tt.name, "tenant") && err != nil {
				t.Errorf("%s: Verify of a tenant that never recorded anything = %+v, %v; want intact and empty", tt.name, rep, err)
			}
		})
	}
}

// IncrementalVerify: a second verification reads only what was added
// since the first, and still finds a change to what it reads, or to the
// record it resumes from, and a truncation.
func IncrementalVerify(t *testing.T, newStorage func(t *testing.T) Storage) {
	ctx := context.Background()
	key := Key(t)
	type lines = [][]byte
	tests := []struct {
		name    string
		tamper  func(t *testing.T, l lines) lines
		problem string // "" for none
	}{
		{"nothing changed", func(_ *testing.T, l lines) lines { return l }, ""},
		{"a new record changed", func(_ *testing.T, l lines) lines {
			l[12] = []byte(strings.Replace(string(l[12]), `"actor":"u"`, `"actor":"v"`, 1))
			return l
		}, "hash does not match"},
		{"the last verified record changed", func(t *testing.T, l lines) lines {
			return rechain(t, l, func(i int, r *audit.Record) {
				if i == 9 {
					r.Actor = "v"
				}
			})
		}, "changed since"},
		{"truncated", func(_ *testing.T, l lines) lines { return l[:8] }, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStorage(t)
			c, err := audit.OpenChains(ctx, s.Backend(t), audit.Options{SigningKey: key, CheckpointEvery: 1000, Now: Clock()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			add := func(n int) {
				for range n {
					if err := c.Append(ctx, audit.Record{TenantID: "tn_a", Actor: "u", Action: "x", Outcome: audit.OutcomeOK}); err != nil {
						t.Fatal(err)
					}
				}
			}
			add(10)
			if rep, err := c.Verify(ctx, "tn_a"); err != nil || rep.Read != 10 {
				t.Fatalf("first Verify = read %d, %v; want 10 read, intact", rep.Read, err)
			}
			add(5)
			s.SetLines(t, "tn_a", false, tt.tamper(t, s.Lines(t, "tn_a", false)))
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

// CutUnderARunningLog: a chain cut or rewritten in the storage while a
// Log appends to it stops the Log: it neither chains new records onto
// the cut (lending them its MACs) nor signs a checkpoint over it (red
// team, session 44: a copy of record 7 appended as the last line made
// the log continue from 7, and the branch verified).
func CutUnderARunningLog(t *testing.T, newStorage func(t *testing.T) Storage) {
	ctx := context.Background()
	key := Key(t)
	type lines = [][]byte
	for _, tt := range []struct {
		name   string
		tamper func(t *testing.T, l lines) lines
		want   string
	}{
		{"cut after record 7", func(_ *testing.T, l lines) lines { return l[:7] }, "removed under it"},
		{"emptied", func(_ *testing.T, l lines) lines { return nil }, "removed under it"},
		{"record 7 again as the last", func(_ *testing.T, l lines) lines { return append(l, l[6]) }, "removed under it"},
		// (The last record rewritten in place, its length kept, is not
		// seen by a file store, which knows its head by where the file
		// ends: the record's MAC is what shows it, see TamperRecords.)
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStorage(t)
			c, err := audit.OpenChains(ctx, s.Backend(t), audit.Options{SigningKey: key, StrictMACs: true, CheckpointEvery: 1000, Now: Clock()})
			if err != nil {
				t.Fatal(err)
			}
			add := func() error {
				return c.Append(ctx, audit.Record{TenantID: "tn_a", Actor: "u", Action: "x", Outcome: audit.OutcomeOK})
			}
			for range 10 {
				if err := add(); err != nil {
					t.Fatal(err)
				}
			}
			s.SetLines(t, "tn_a", false, tt.tamper(t, s.Lines(t, "tn_a", false)))
			for i := range 2 {
				if err := add(); err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("append %d after the chain was %s: %v; want the log stopped, %q", i+1, tt.name, err, tt.want)
				}
			}
			c.Close()
			for _, cp := range s.Lines(t, "tn_a", true) {
				if len(cp) > 0 {
					t.Errorf("a checkpoint signed over the chain %s: %s", tt.name, cp)
				}
			}
		})
	}
}

// ReadFrom: reading from a record does not read those before it (a
// broken first record does not stop it).
func ReadFrom(t *testing.T, s Storage) {
	ctx := context.Background()
	key := Key(t)
	Fill(t, s, key, 100, map[string]int{"t1": 20}, 0)
	l := s.Lines(t, "t1", false)
	l[0] = []byte("garbage")
	s.SetLines(t, "t1", false, l)
	st, err := s.Backend(t).Open(ctx, "t1", false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []uint64
	for r, err := range st.Read(ctx, 15) {
		if err != nil {
			t.Fatalf("Read(15): %v (it read the records before 15)", err)
		}
		got = append(got, r.Seq)
	}
	if fmt.Sprint(got) != "[15 16 17 18 19 20]" {
		t.Errorf("Read(15) = %v, want records 15 to 20", got)
	}
	var corrupt *audit.CorruptError
	for _, err := range st.Read(ctx, 0) {
		if err != nil && !errors.As(err, &corrupt) {
			t.Errorf("Read(0) of a broken first record: %v, want a *CorruptError", err)
		}
		break
	}
	if corrupt == nil || corrupt.Index != 1 {
		t.Errorf("Read(0) of a broken first record: %v, want a *CorruptError at 1", corrupt)
	}
}

// Concurrent appends to several chains from many goroutines while reading
// and verifying them; every chain ends intact and whole.
func Concurrent(t *testing.T, s Storage) {
	ctx := context.Background()
	key := Key(t)
	c, err := audit.OpenChains(ctx, s.Backend(t), audit.Options{SigningKey: key, CheckpointEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	tenants := []string{"tn_1", "tn_2", "tn_3", ""}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				tn := tenants[(g+i)%len(tenants)]
				if err := c.Append(ctx, audit.Record{TenantID: tn, Actor: "u", Action: "x", Outcome: audit.OutcomeOK}); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					if _, err := c.Verify(ctx, tn); err != nil {
						t.Error(err)
						return
					}
					for _, err := range c.Read(ctx, tn, 2) {
						if err != nil {
							t.Error(err)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	reps := VerifyAll(t, s, key)
	total := uint64(0)
	for chain, r := range reps {
		if r.Err != nil {
			t.Errorf("chain %q: %v", chain, r.Err)
		}
		total += r.Report.Records
	}
	if len(reps) != 4 || total != 8*40+3 {
		t.Errorf("%d chains of %d records in all, want 4 chains of 323 (320 and 3 creations)", len(reps), total)
	}
}

// AppendMany appends each records of actor to the chain of tenant, from
// goroutines goroutines at once.
func AppendMany(t testing.TB, c *audit.Chains, tenant, actor string, goroutines, each int) {
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			for j := range each {
				r := audit.Record{TenantID: tenant, Actor: actor, Action: "tool.call", Target: fmt.Sprintf("%d-%d", i, j), Outcome: audit.OutcomeOK}
				if err := c.Append(context.Background(), r); err != nil {
					t.Errorf("%s: Append: %v", actor, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// Shared: writers Chains, each on a Backend of its own (as processes or
// nodes would be), append from goroutines goroutines each records each to
// one tenant's chain and to the system chain at once. Every chain
// verifies; the tenant's holds each record once and nothing else, with no
// gap; the system chain records its creation once.
func Shared(t *testing.T, s Storage, writers, goroutines, each int) {
	key := Key(t)
	const tenant = "t1"
	var actors []string
	var wg sync.WaitGroup
	for w := range writers {
		a := fmt.Sprintf("writer%d", w)
		actors = append(actors, a)
		c, err := audit.OpenChains(t.Context(), s.Backend(t), audit.Options{SigningKey: key, CheckpointEvery: 7, MaxBatch: 1 + w%3*20})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			AppendMany(t, c, tenant, a, goroutines, each)
			AppendMany(t, c, audit.SystemChain, a, 1, 5)
			if err := c.Close(); err != nil {
				t.Errorf("%s: Close: %v", a, err)
			}
		})
	}
	wg.Wait()
	reps := VerifyAll(t, s, key)
	for _, r := range reps {
		if r.Err != nil {
			t.Errorf("chain %q is not intact: %v", r.Chain, r.Err)
		}
	}
	want := uint64(writers * goroutines * each)
	if r := reps[tenant]; r.Report.Records != want || r.Report.Signed != want {
		t.Errorf("chain %q: %d records, %d signed, want %d, all signed", tenant, r.Report.Records, r.Report.Signed, want)
	}
	seen := map[string]int{}
	for i, line := range s.Lines(t, tenant, false) {
		r, err := audit.DecodeRecord(line)
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d of chain %q has number %d", i+1, tenant, r.Seq)
		}
		seen[r.Actor+"/"+r.Target]++
	}
	for _, a := range actors {
		for i := range goroutines {
			for j := range each {
				if k := fmt.Sprintf("%s/%d-%d", a, i, j); seen[k] != 1 {
					t.Errorf("record %s is in the chain %d times, want once", k, seen[k])
				}
			}
		}
	}
	created := 0
	for _, line := range s.Lines(t, audit.SystemChain, false) {
		if r, err := audit.DecodeRecord(line); err == nil && r.Action == audit.ActionChainCreate && r.Target == tenant {
			created++
		}
	}
	if created != 1 {
		t.Errorf("the system chain records the creation of chain %q %d times, want once", tenant, created)
	}
}
