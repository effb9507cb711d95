package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// appendMany appends n records of actor to the chain of tenant, from g
// goroutines at once.
func appendMany(t testing.TB, c *Chains, tenant, actor string, g, n int) {
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() {
			for j := range n {
				r := Record{TenantID: tenant, Actor: actor, Action: "tool.call", Target: fmt.Sprintf("%d-%d", i, j), Outcome: OutcomeOK}
				if err := c.Append(context.Background(), r); err != nil {
					t.Errorf("%s: Append: %v", actor, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// checkShared verifies every chain of dir and that the chain of tenant
// holds each actor's records of appendMany (g×n each), once.
func checkShared(t *testing.T, dir string, key ed25519.PrivateKey, tenant string, actors []string, g, n int) {
	t.Helper()
	reps, err := VerifyAll(t.Context(), FileDir{Path: dir, ReadOnly: true}, pub(key))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if r.Err != nil {
			t.Errorf("chain %q is not intact: %v", r.Chain, r.Err)
		}
	}
	s, err := FileDir{Path: dir, ReadOnly: true}.Open(t.Context(), tenant, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen := map[string]int{}
	for r, err := range s.Read(t.Context(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		seen[r.Actor+"/"+r.Target]++
	}
	for _, a := range actors {
		for i := range g {
			for j := range n {
				if k := fmt.Sprintf("%s/%d-%d", a, i, j); seen[k] != 1 {
					t.Errorf("record %s is in the chain %d times, want once", k, seen[k])
				}
			}
		}
	}
	sys, err := FileDir{Path: dir, ReadOnly: true}.Open(t.Context(), SystemChain, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	created := 0
	for r, err := range sys.Read(t.Context(), 0) {
		if err == nil && r.Action == ActionChainCreate && r.Target == tenant {
			created++
		}
	}
	if created != 1 {
		t.Errorf("the system chain records the creation of chain %q %d times, want once", tenant, created)
	}
}

// TestChainsShareAFolder: two Chains on one folder (each with its own
// files open, so their locks are as two processes' are) append to the
// same chains at once; every chain verifies and holds every record once.
func TestChainsShareAFolder(t *testing.T) {
	key := testKey(t)
	dir := t.TempDir()
	actors := []string{"server", "cli"}
	var wg sync.WaitGroup
	for _, a := range actors {
		c, err := OpenChains(t.Context(), FileDir{Path: dir}, Options{SigningKey: key, CheckpointEvery: 7})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			appendMany(t, c, "t1", a, 4, 40)
			appendMany(t, c, SystemChain, a, 1, 5)
			if err := c.Close(); err != nil {
				t.Errorf("%s: Close: %v", a, err)
			}
		})
	}
	wg.Wait()
	checkShared(t, dir, key, "t1", actors, 4, 40)
}

// TestProcessesShareAChain: processes append to one chain at once, with
// real file locks between them.
func TestProcessesShareAChain(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(t.TempDir(), "audit.key")
	key, _, err := LoadOrCreateSigningKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	actors := []string{"p1", "p2", "p3"}
	var cmds []*exec.Cmd
	for _, a := range actors[1:] {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAppender$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AUDIT_APPENDER="+a, "AUDIT_APPENDER_DIR="+dir, "AUDIT_APPENDER_KEY="+keyPath)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	c, err := OpenChains(t.Context(), FileDir{Path: dir}, Options{SigningKey: key, CheckpointEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	appendMany(t, c, "t1", actors[0], helperG, helperN)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("appender process: %v", err)
		}
	}
	checkShared(t, dir, key, "t1", actors, helperG, helperN)
}

const helperG, helperN = 3, 60

// TestHelperAppender is the other processes of TestProcessesShareAChain.
func TestHelperAppender(t *testing.T) {
	actor := os.Getenv("AUDIT_APPENDER")
	if actor == "" {
		t.Skip("a helper process of TestProcessesShareAChain")
	}
	key, _, err := LoadOrCreateSigningKey(os.Getenv("AUDIT_APPENDER_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenChains(context.Background(), FileDir{Path: os.Getenv("AUDIT_APPENDER_DIR")}, Options{SigningKey: key, CheckpointEvery: 7, MaxBatch: 1 + len(actor)%2})
	if err != nil {
		t.Fatal(err)
	}
	appendMany(t, c, "t1", actor, helperG, helperN)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLockWaitEnds: a writer that cannot have the lock gives up after
// lockWait with an error that says why, and its Log still works after.
func TestLockWaitEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLog(t.Context(), b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	old := lockWait
	lockWait = old / 100
	t.Cleanup(func() { lockWait = old })
	if err := a.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(t.Context(), sampleRecord(1)); err == nil {
		t.Error("Append succeeded while another writer held the lock")
	}
	a.Unlock()
	if err := l.Append(t.Context(), sampleRecord(2)); err != nil {
		t.Errorf("Append after the lock was released: %v (a lock not had must not stop the log)", err)
	}
}
