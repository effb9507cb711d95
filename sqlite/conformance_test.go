package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark/internal/storetest"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestConformance runs the store suite shared with package postgres.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Store {
		h, err := openHarness(t, filepath.Join(t.TempDir(), "bulwark.db"), secret.NewKeyring())
		if err != nil {
			t.Fatal(err)
		}
		return h
	})
}

var _ storetest.Store = (*DB)(nil)

// harness is a store of the suite: master keys from "the environment",
// no key file, as on PostgreSQL.
type harness struct {
	*DB
	path string
	keys *secret.Keyring
}

func openHarness(t *testing.T, path string, keys *secret.Keyring) (*harness, error) {
	db, err := Open(context.Background(), Config{Path: path, Keys: keys, KeySource: "BULWARK_MASTER_KEY"})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { db.Close() })
	return &harness{DB: db, path: path, keys: keys}, nil
}

func (h *harness) Keys() *secret.Keyring { return h.keys }

// Dump is the database file and its write-ahead log, as they are on disk
// while the store is open.
func (h *harness) Dump(t *testing.T) []byte {
	var all []byte
	for _, p := range []string{h.path, h.path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func (h *harness) Reopen(t *testing.T, keys *secret.Keyring) (storetest.Harness, error) {
	h.DB.Close()
	return openHarness(t, h.path, keys)
}

func (h *harness) Exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := h.DB.w.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
