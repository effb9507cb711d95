package sqlite

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestRotateWithLiveData rotates the master key while other goroutines
// read and write secrets and events, and while a second process (a second
// DB on the same folder) reads: every read succeeds. Then the old version
// is retired, everything still opens, in this process and in a fresh one,
// and retiring it again is refused.
func TestRotateWithLiveData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	other := f.open(t) // another process on the same data folder
	tenants := []bulwark.TenantID{mustTenant(t, db, "a"), mustTenant(t, db, "b")}
	task, err := db.CreateTask(ctx, tenants[0], bulwark.Task{Input: "long task"})
	if err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var seq atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w, tn := range tenants {
		wg.Go(func() { // writer and reader of secrets
			for i := 0; !stop.Load() || i < 5; i++ {
				name := fmt.Sprintf("S%d_%d", w, i%5)
				want := fmt.Sprintf("value-%d-%d", w, i)
				if err := db.SetSecret(ctx, tn, name, want); err != nil {
					report(err)
					return
				}
				vals, err := db.SecretValues(ctx, tn)
				if err != nil || vals[name] != want {
					report(fmt.Errorf("SecretValues = %v, %v; want %s=%s", vals, err, name, want))
					return
				}
			}
		})
	}
	wg.Go(func() { // events writer
		for i := 0; !stop.Load() || i < 5; i++ {
			s := seq.Add(1)
			if err := db.AppendEvent(ctx, tenants[0], bulwark.Event{TaskID: task.ID, Seq: s, Type: bulwark.EventNotice, Text: "step"}); err != nil {
				report(err)
				return
			}
		}
	})
	wg.Go(func() { // the other process reads events and makes a tenant
		for i := 0; !stop.Load() || i < 5; i++ {
			if _, err := other.Events(ctx, tenants[0], task.ID, 0, 0); err != nil {
				report(err)
				return
			}
			if i == 3 {
				if _, err := other.CreateTenant(ctx, "made-by-other"); err != nil {
					report(err)
					return
				}
			}
		}
	})

	rot, err := db.RotateMaster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Version != 2 || rot.Previous != 1 || rot.Rewrapped < 2 {
		t.Errorf("RotateMaster = %+v, want version 2 from 1 with at least 2 re-wrapped", rot)
	}
	rot2, err := other.RotateMaster(ctx) // the other process rotates too, after re-reading the file
	if err != nil || rot2.Version != 3 {
		t.Fatalf("second RotateMaster from the other process = %+v, %v; want version 3", rot2, err)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("during rotation: %v", err)
	}

	// Tenants made before and during the rotation, by either process, are
	// wrapped by the current version: 1 and 2 can go.
	for _, v := range []int{1, 2} {
		if err := db.RetireMaster(ctx, v); err != nil {
			t.Fatalf("RetireMaster(%d): %v", v, err)
		}
	}
	if err := db.RetireMaster(ctx, 1); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("RetireMaster(1) twice = %v, want NotFound", err)
	}
	if err := db.RetireMaster(ctx, 3); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("RetireMaster(current) = %v, want Conflict", err)
	}
	kr, err := secret.ReadKeyFile(f.keyFile)
	if err != nil || kr.Current() != 3 || len(kr.Versions()) != 1 {
		t.Fatalf("key file after retiring: %v, %v; want only version 3", kr.Versions(), err)
	}
	// Each rotation made a data key for each tenant then: version 3
	// wraps every one.
	var all int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM data_keys`).Scan(&all); err != nil {
		t.Fatal(err)
	}
	st, err := db.KeyStatus(ctx)
	if err != nil || st.Current != 3 || len(st.Versions) != 1 || st.Versions[0].DataKeys != all || all < 3+2 {
		t.Errorf("KeyStatus = %+v, %v; want version 3 alone wrapping the %d data keys", st, err, all)
	}

	fresh := f.open(t) // nothing cached: every data key is unwrapped again
	for _, s := range []*DB{db, other, fresh} {
		for _, tn := range tenants {
			if _, err := s.SecretValues(ctx, tn); err != nil {
				t.Errorf("after retiring, SecretValues: %v", err)
			}
		}
		if events, err := s.Events(ctx, tenants[0], task.ID, 0, 0); err != nil || int64(len(events)) != seq.Load() {
			t.Errorf("after retiring, Events = %d events, %v; want %d", len(events), err, seq.Load())
		}
	}
	made, err := fresh.TenantByName(ctx, "made-by-other")
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.SetSecret(ctx, made.ID, "X", "value-123"); err != nil {
		t.Errorf("the tenant made during the rotation: %v", err)
	}
}

// TestRetireRefusedWhileWrapping: a version that still wraps a data key
// (here because the file was rotated by hand, not by RotateMaster) cannot
// be retired.
func TestRetireRefusedWhileWrapping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	mustTenant(t, db, "a")
	kr, _ := secret.ReadKeyFile(f.keyFile)
	if err := secret.WriteKeyFile(f.keyFile, kr.WithNewKey()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = f.open(t)
	err := db.RetireMaster(ctx, 1)
	if bulwark.ErrorKind(err) != bulwark.Conflict || !strings.Contains(bulwark.ErrorMessage(err), "still wraps 1 data keys") {
		t.Errorf("RetireMaster of a wrapping version = %v, want Conflict", err)
	}
	if _, err := db.RotateMaster(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.RetireMaster(ctx, 1); err != nil {
		t.Errorf("RetireMaster after rotation: %v", err)
	}
}

// TestRotateWithEnvironmentKeys: without a key file, rotation re-wraps to
// the newest version the operator supplied, and says what to do when
// there is nothing to re-wrap.
func TestRotateWithEnvironmentKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := t.TempDir() + "/bulwark.db"
	k1 := secret.NewKeyring()
	db, err := Open(ctx, Config{Path: path, Keys: k1, KeySource: "BULWARK_MASTER_KEY"})
	if err != nil {
		t.Fatal(err)
	}
	a := mustTenant(t, db, "a")
	db.SetSecret(ctx, a, "K", "value-123")
	if _, err := db.RotateMaster(ctx); bulwark.ErrorKind(err) != bulwark.Conflict || !strings.Contains(bulwark.ErrorMessage(err), "BULWARK_MASTER_KEY") {
		t.Errorf("RotateMaster with nothing new = %v, want Conflict naming BULWARK_MASTER_KEY", err)
	}
	db.Close()
	db, err = Open(ctx, Config{Path: path, Keys: k1.WithNewKey(), KeySource: "BULWARK_MASTER_KEY"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rot, err := db.RotateMaster(ctx)
	if err != nil || rot.Version != 2 || rot.Rewrapped != 1 {
		t.Errorf("RotateMaster = %+v, %v; want 1 data key re-wrapped to version 2", rot, err)
	}
	if err := db.RetireMaster(ctx, 1); err != nil {
		t.Errorf("RetireMaster(1): %v", err)
	}
}

// The last version there can be is not rotated past: the next would wrap
// to 0, which no key file may hold, and the data keys wrapped with it
// could never be opened again (red team, session 42).
func TestRotateRefusedAtTheLastVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	key := base64.StdEncoding.EncodeToString(secret.NewKey())
	if err := os.WriteFile(f.keyFile, []byte("v4294967295:"+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := f.open(t)
	tn := mustTenant(t, db, "a")
	if err := db.SetSecret(ctx, tn, "X", "value-123"); err != nil {
		t.Fatal(err)
	}
	_, err := db.RotateMaster(ctx)
	if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), "the last there can be") {
		t.Errorf("RotateMaster at version 4294967295 = %v, want Invalid", err)
	}
	db.Close()
	if _, err := f.open(t).SecretValues(ctx, tn); err != nil {
		t.Errorf("after the refused rotation: %v", err)
	}
}
