package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/secret"
)

func testKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) Key { return KeyOf(k, true) }

// fixedClock returns a clock that ticks one millisecond per call.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func sampleRecord(i int) Record {
	return Record{
		TenantID: "t1", Actor: fmt.Sprintf("key_%d", i%3), Action: "tool.call", Target: "run_shell",
		Outcome: OutcomeOK, Details: map[string]string{"command": fmt.Sprintf("ls -l %d", i), "z": "\x00é\xff", "a": "<&>"},
	}
}

// mustFileLog writes n records to a new file log with a checkpoint every
// `every` records, closes it and returns its path.
func mustFileLog(t testing.TB, key ed25519.PrivateKey, n, every int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLog(context.Background(), s, Options{SigningKey: key, CheckpointEvery: every, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := l.Append(context.Background(), sampleRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func verifyFile(t testing.TB, path string, key Key) (Report, error) {
	t.Helper()
	s, err := OpenFileReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return Verify(context.Background(), s, key)
}

func TestFileLogVerifies(t *testing.T) {
	key := testKey(t)
	path := mustFileLog(t, key, 25, 10)
	rep, err := verifyFile(t, path, pub(key))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Records != 25 || rep.Checkpoints != 3 || rep.Signed != 25 {
		t.Errorf("Verify = %+v, want 25 records, 3 checkpoints, 25 signed", rep)
	}
	// Reopen and go on: the chain continues.
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLog(t.Context(), s, Options{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := l.Head(); seq != 25 {
		t.Errorf("reopened Head = %d, want 25", seq)
	}
	if err := l.Append(t.Context(), sampleRecord(99)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if rep, err := verifyFile(t, path, pub(key)); err != nil || rep.Records != 26 || rep.Signed != 26 {
		t.Errorf("after reopening: Verify = %+v, %v", rep, err)
	}
}

func TestReadOnlyStoreRefusesAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ro, err := OpenFileReadOnly(path)
	if err != nil {
		t.Fatalf("OpenFileReadOnly while open for writing: %v", err)
	}
	if err := ro.Append(t.Context(), Record{}); err == nil {
		t.Error("Append to a read-only store succeeded")
	}
	ro.Close()
}

func TestConcurrentAppends(t *testing.T) {
	for _, batch := range []int{1, 0} {
		key := testKey(t)
		store := NewMemoryStore()
		l, err := NewLog(t.Context(), store, Options{SigningKey: key, CheckpointEvery: 7, MaxBatch: batch})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 50 {
					if err := l.Append(t.Context(), sampleRecord(g*100+i)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(t.Context(), store, pub(key))
		if err != nil || rep.Records != 400 || rep.Signed != 400 {
			t.Errorf("MaxBatch %d: Verify = %+v, %v; want 400 records, all signed", batch, rep, err)
		}
		if err := l.Append(t.Context(), sampleRecord(0)); !errors.Is(err, ErrClosed) {
			t.Errorf("Append after Close = %v, want ErrClosed", err)
		}
	}
}

func TestLogRedactsDetails(t *testing.T) {
	r := secret.NewRedactor()
	r.Add("DB", "hunter2-supersecret")
	store := NewMemoryStore()
	l, _ := NewLog(t.Context(), store, Options{Redactor: r})
	details := map[string]string{"cmd": "psql postgres://u:hunter2-supersecret@db", "token": "ghp_" + strings.Repeat("aB3", 12)}
	l.Append(t.Context(), Record{Action: "tool.call", Target: "x hunter2-supersecret", Details: details})
	l.Close()
	all := string(bytes.Join(store.Lines, nil))
	if strings.Contains(all, "hunter2") || strings.Contains(all, "ghp_") {
		t.Errorf("stored record holds a secret: %s", all)
	}
	if details["cmd"] != "psql postgres://u:hunter2-supersecret@db" {
		t.Error("Append changed the caller's Details map")
	}
}

type failingStore struct{ *MemoryStore }

func (failingStore) Append(context.Context, ...Record) error { return errors.New("disk on fire") }

func TestStoreFailureIsSticky(t *testing.T) {
	l, _ := NewLog(t.Context(), failingStore{NewMemoryStore()}, Options{})
	if err := l.Append(t.Context(), sampleRecord(1)); err == nil {
		t.Fatal("Append to a failing store succeeded")
	}
	if err := l.Append(t.Context(), sampleRecord(2)); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("second Append = %v, want the first failure", err)
	}
}

func TestTornTailIsCut(t *testing.T) {
	key := testKey(t)
	path := mustFileLog(t, key, 5, 100)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":6,"time":"2025-`) // a crash mid-write
	f.Close()
	if _, err := verifyFile(t, path, pub(key)); err == nil {
		t.Error("Verify passed a log with an unfinished line")
	}
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLog(t.Context(), s, Options{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(t.Context(), sampleRecord(6)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if rep, err := verifyFile(t, path, pub(key)); err != nil || rep.Records != 6 {
		t.Errorf("after the next append: Verify = %+v, %v", rep, err)
	}
}

func TestSigningKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "audit.key")
	k1, _, err := LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	k2, _, err := LoadOrCreateSigningKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load = %v, equal %v", err, k1.Equal(k2))
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		os.Chmod(path, mode)
		if _, _, err := LoadOrCreateSigningKey(path); err == nil {
			t.Errorf("key file mode %04o accepted", mode)
		}
	}
	os.Chmod(path, 0o600)
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, _, err := LoadOrCreateSigningKey(bad); err == nil {
		t.Error("garbage key file accepted")
	}
	if _, _, err := LoadOrCreateSigningKey(dir); err == nil {
		t.Error("a directory accepted as key file")
	}
}

func TestRecordEncoding(t *testing.T) {
	r, line, err := seal(Record{Seq: 3, Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("Y", -7200)),
		Actor: "cli", Action: "secret.set", Outcome: OutcomeOK, Details: map[string]string{"b": "2", "a": "1\xff"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"time":"2025-01-02T05:04:05.000000006Z","tenant":"","actor":"cli","action":"secret.set","target":"","outcome":"ok","details":{"a":"1�","b":"2"},"prev":"` +
		strings.Repeat("0", 64) + `","hash":"` + r.Hash.String() + `"}` + "\n"
	if string(line) != want {
		t.Errorf("stored form\n got %s\nwant %s", line, want)
	}
	got, err := DecodeRecord(line)
	if err != nil || ComputeHash(&got) != r.Hash {
		t.Errorf("DecodeRecord: %v, hash ok %v", err, ComputeHash(&got) == r.Hash)
	}
	for _, bad := range []string{
		strings.Replace(want, `"seq"`, `"SEQ"`, 1),
		strings.Replace(want, `{"seq":3,`, `{"seq": 3,`, 1),
		strings.Replace(want, `"a":"1�","b":"2"`, `"b":"2","a":"1�"`, 1),
		strings.Replace(want, `Z"`, `+00:00"`, 1),
		strings.Replace(want, `}`+"\n", `,"extra":1}`, 1),
		strings.Replace(want, `"hash":"`, `"hash":"A`, 1),
		want[:len(want)-1] + " ",
		want[:len(want)-1] + "{}",
	} {
		if _, err := DecodeRecord([]byte(bad)); err == nil {
			t.Errorf("DecodeRecord(%q) accepted a non-canonical line", bad)
		}
	}
}
