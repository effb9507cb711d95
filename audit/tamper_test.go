package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Every tamper test starts from a closed file log of 12 records with
// checkpoints after records 5, 10 and 12, changes it, and expects Verify
// to fail with a *Problem.

func mustVerifyFails(t *testing.T, path string, key Key, what string) *Problem {
	t.Helper()
	rep, err := verifyFile(t, path, key)
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("%s: Verify = %+v, %v; want a *Problem", what, rep, err)
	}
	if rep.Problem != p {
		t.Errorf("%s: Report.Problem = %v, error = %v", what, rep.Problem, p)
	}
	return p
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTamperEveryByte changes every byte of the records file and of the
// checkpoints file, in three ways each.
func TestTamperEveryByte(t *testing.T) {
	key := testKey(t)
	path := mustFileLog(t, key, 12, 5)
	if _, err := verifyFile(t, path, pub(key)); err != nil {
		t.Fatalf("untouched log: %v", err)
	}
	for _, file := range []string{path, path + ".checkpoints"} {
		orig, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i := range orig {
			for _, mask := range []byte{0x01, 0x20, 0x80} {
				changed := bytes.Clone(orig)
				changed[i] ^= mask
				if err := os.WriteFile(file, changed, 0o600); err != nil {
					t.Fatal(err)
				}
				p := mustVerifyFails(t, path, pub(key), fmt.Sprintf("%s byte %d ^%#x", file, i, mask))
				if file == path && p.Seq == 0 {
					t.Errorf("byte %d of the records file ^%#x: problem %v names no record", i, mask, p)
				}
				if file != path && p.Checkpoint == 0 {
					t.Errorf("byte %d of the checkpoints file ^%#x: problem %v names no checkpoint", i, mask, p)
				}
			}
		}
		os.WriteFile(file, orig, 0o600)
	}
}

func TestTamperRecords(t *testing.T) {
	key := testKey(t)
	other := testKey(t)
	tests := []struct {
		name    string
		change  func(t *testing.T, path string)
		wantSeq uint64
		reason  string
	}{
		{"delete a record", func(t *testing.T, path string) {
			l := readLines(t, path)
			writeLines(t, path, append(l[:3:3], l[4:]...))
		}, 4, "found record 5"},
		{"delete the last record", func(t *testing.T, path string) {
			l := readLines(t, path)
			writeLines(t, path, l[:11])
		}, 12, "truncated"},
		{"truncate behind a checkpoint", func(t *testing.T, path string) {
			l := readLines(t, path)
			writeLines(t, path, l[:7])
		}, 8, "truncated"},
		{"reorder two", func(t *testing.T, path string) {
			l := readLines(t, path)
			l[5], l[6] = l[6], l[5]
			writeLines(t, path, l)
		}, 6, "found record 7"},
		{"insert a forged record", func(t *testing.T, path string) {
			l := readLines(t, path)
			prev, _ := DecodeRecord(l[2])
			forged, line, _ := seal(Record{Seq: 4, Time: prev.Time, PrevHash: prev.Hash, Actor: "system", Action: "auth.login", Outcome: OutcomeOK})
			_ = forged
			writeLines(t, path, append(l[:3:3], append([][]byte{line}, l[3:]...)...))
		}, 5, "found record 4"},
		{"rewrite a record and recompute the chain", func(t *testing.T, path string) {
			rechain(t, path, func(i int, r *Record) {
				if i == 2 {
					r.Outcome = OutcomeDenied
				}
			})
		}, 1, "differ from what the checkpoint signed"},
		{"insert a record and recompute the chain", func(t *testing.T, path string) {
			l := readLines(t, path)
			writeLines(t, path, append(l[:8:8], append([][]byte{l[7]}, l[8:]...)...))
			rechain(t, path, func(int, *Record) {})
		}, 6, "differ from what the checkpoint signed"},
		{"forge a checkpoint with another key", func(t *testing.T, path string) {
			c := signCheckpoint(other, "", 12, Hash{1}, fixedClock()())
			line, _ := EncodeCheckpoint(c)
			l := readLines(t, path+".checkpoints")
			l[2] = line
			writeLines(t, path+".checkpoints", l)
		}, 0, "bad signature"},
		{"drop the checkpoints and truncate", func(t *testing.T, path string) {
			l := readLines(t, path+".checkpoints")
			writeLines(t, path+".checkpoints", l[:1])
			writeLines(t, path, readLines(t, path)[:4])
		}, 5, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := mustFileLog(t, key, 12, 5)
			tt.change(t, path)
			// The checkpoints, as a verifier with the public key alone
			// checks them; the records' MACs are audittest's TamperRecords.
			p := mustVerifyFails(t, path, PublicOnly(key.Public().(ed25519.PublicKey)), tt.name)
			if p.Seq != tt.wantSeq || !strings.Contains(p.Reason, tt.reason) {
				t.Errorf("%s: problem %v (seq %d), want seq %d and %q", tt.name, p, p.Seq, tt.wantSeq, tt.reason)
			}
		})
	}
}

// rechain rewrites every record of path through change and recomputes
// every hash, as someone who can write the log but lacks the key would
// (seal drops the MACs: they cannot make them).
func rechain(t *testing.T, path string, change func(i int, r *Record)) {
	t.Helper()
	var out [][]byte
	var prev Hash
	for i, line := range readLines(t, path) {
		if len(line) == 0 {
			continue
		}
		r, err := DecodeRecord(line)
		if err != nil {
			t.Fatal(err)
		}
		change(i, &r)
		r.Seq, r.PrevHash = uint64(i+1), prev
		r, enc, err := seal(r)
		if err != nil {
			t.Fatal(err)
		}
		prev = r.Hash
		out = append(out, enc)
	}
	writeLines(t, path, out)
}

func TestVerifyNeedsKey(t *testing.T) {
	if _, err := Verify(context.Background(), NewMemoryStore(), Key{}); err == nil {
		t.Error("Verify without a public key succeeded")
	}
}
