package audit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// FileDir keeps chains as file logs (see OpenFile) in a folder: the
// system chain in audit.log, which is where the single log of earlier
// releases was (its records, of every tenant, stay there and verify as
// the system chain's first records), and each tenant's chain in
// tenants/TENANT.log.
type FileDir struct {
	Path string
	// ReadOnly opens the logs with OpenFileReadOnly and never creates one.
	ReadOnly bool
}

// LogPath returns the file of chain.
func (d FileDir) LogPath(chain string) (string, error) {
	if !ValidChain(chain) {
		return "", fmt.Errorf("audit chain %q: not a valid tenant id", chain)
	}
	if chain == SystemChain {
		return filepath.Join(d.Path, "audit.log"), nil
	}
	return filepath.Join(d.Path, "tenants", chain+".log"), nil
}

// Open implements Backend.
func (d FileDir) Open(_ context.Context, chain string, create bool) (Store, error) {
	p, err := d.LogPath(chain)
	if err != nil {
		return nil, err
	}
	_, err = os.Stat(p)
	missing := errors.Is(err, fs.ErrNotExist)
	if missing && (!create || d.ReadOnly) {
		return nil, ErrNoChain
	}
	if d.ReadOnly {
		return OpenFileReadOnly(p)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	if create {
		// Create the file here, exclusively: of two processes creating
		// the chain at once, one is told it exists already, so that its
		// creation is recorded once. A chain found missing above may have
		// been created since: that too is ErrChainExists, not a creation.
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return nil, ErrChainExists
		}
		if err != nil {
			return nil, fmt.Errorf("open audit log: %w", err)
		}
		f.Close()
	}
	return OpenFile(p)
}

// List implements Backend.
func (d FileDir) List(context.Context) ([]string, error) {
	var out []string
	if _, err := os.Stat(filepath.Join(d.Path, "audit.log")); err == nil {
		out = append(out, SystemChain)
	}
	ents, err := os.ReadDir(filepath.Join(d.Path, "tenants"))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if ok && name != "" && e.Type().IsRegular() && ValidChain(name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// MemoryDir keeps chains in MemoryStores, for tests.
type MemoryDir struct {
	mu     sync.Mutex
	stores map[string]*MemoryStore
}

// NewMemoryDir returns an empty MemoryDir.
func NewMemoryDir() *MemoryDir { return &MemoryDir{stores: map[string]*MemoryStore{}} }

// Open implements Backend. A store closed before is opened again.
func (m *MemoryDir) Open(_ context.Context, chain string, create bool) (Store, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stores[chain]
	if s == nil && !create {
		return nil, ErrNoChain
	}
	if s == nil {
		s = NewMemoryStore()
		m.stores[chain] = s
	}
	s.mu.Lock()
	s.closed = false
	s.mu.Unlock()
	return s, nil
}

// List implements Backend.
func (m *MemoryDir) List(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.stores))
	for name := range m.stores {
		out = append(out, name)
	}
	return out, nil
}

// Store returns the store of chain (nil when there is none), for tests
// to read and tamper with.
func (m *MemoryDir) Store(chain string) *MemoryStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stores[chain]
}

// Remove deletes chain, for tests.
func (m *MemoryDir) Remove(chain string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.stores, chain)
}
