package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestSnapshotFileWhileAppending copies a tenant's chain again and again
// while records and checkpoints are appended to it: every copy verifies
// in full, with as many records as it holds.
func TestSnapshotFileWhileAppending(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(nil)
	l, err := OpenChains(ctx, FileDir{Path: dir}, Options{SigningKey: key, CheckpointEvery: 7, MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "tn_snap"
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 400 {
			if err := l.Append(ctx, Record{TenantID: tenant, Actor: "test", Action: "tool.call", Target: fmt.Sprint(i), Outcome: OutcomeOK}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	src, _ := FileDir{Path: dir}.LogPath(tenant)
	for i := 0; i < 30; i++ {
		copyDir := t.TempDir()
		dst, _ := FileDir{Path: copyDir}.LogPath(tenant)
		if _, err := os.Stat(src); err != nil {
			continue // the chain is not created yet
		}
		os.MkdirAll(filepath.Dir(dst), 0o700)
		rf, _ := os.Create(dst)
		cf, _ := os.Create(dst + ".checkpoints")
		if _, err := SnapshotFile(src, rf, cf); err != nil {
			t.Fatalf("SnapshotFile: %v", err)
		}
		rf.Close()
		cf.Close()
		if _, err := verifyCopy(t, copyDir, tenant, key); err != nil {
			t.Fatalf("copy %d of chain %q does not verify: %v", i, tenant, err)
		}
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A copy of the finished chain holds every record, and not the
	// unfinished line a crash would leave.
	torn, _ := os.OpenFile(src, os.O_WRONLY|os.O_APPEND, 0)
	torn.WriteString(`{"seq":401,"ti`)
	torn.Close()
	copyDir := t.TempDir()
	dst, _ := FileDir{Path: copyDir}.LogPath(tenant)
	os.MkdirAll(filepath.Dir(dst), 0o700)
	rf, _ := os.Create(dst)
	cf, _ := os.Create(dst + ".checkpoints")
	if _, err := SnapshotFile(src, rf, cf); err != nil {
		t.Fatal(err)
	}
	rf.Close()
	cf.Close()
	if rep, err := verifyCopy(t, copyDir, tenant, key); err != nil || rep.Records != 400 {
		t.Fatalf("the copy of the whole chain: %+v, %v; want 400 records verified", rep, err)
	}
}

// verifyCopy verifies in full the copy of chain alone in dir (without
// the system chain, which VerifyAll would miss).
func verifyCopy(t *testing.T, dir, chain string, key ed25519.PrivateKey) (Report, error) {
	t.Helper()
	s, err := FileDir{Path: dir, ReadOnly: true}.Open(context.Background(), chain, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return VerifyChain(context.Background(), s, KeyOf(key, true), chain, Marker{}, nil)
}
