package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"
)

// Records are kept in chains: one hash chain with its own numbering and
// signed checkpoints for each tenant, and the system chain for what
// belongs to no tenant (the operator's actions, requests from nobody
// known). A tenant's records, sequence numbers and counts therefore say
// nothing about other tenants. A record goes to the chain of its TenantID.
//
// The system chain records the creation of each tenant chain
// (ActionChainCreate), so that VerifyAll notices a tenant chain removed
// whole.

// SystemChain names the system chain.
const SystemChain = ""

// ActionChainCreate is the system chain's record of a new tenant chain;
// its Target is the tenant id.
const ActionChainCreate = "audit.chain_create"

// ErrNoChain is returned by Backend.Open for a chain that does not exist.
var ErrNoChain = errors.New("no such audit chain")

// ErrChainExists is returned by Backend.Open, asked to create a chain,
// when another writer has created it since it was found missing.
var ErrChainExists = errors.New("the audit chain exists already")

// Backend opens the stores of a set of chains: FileDir, MemoryDir, and
// pgaudit's in PostgreSQL. Package audittest holds the scenarios every
// Backend must pass.
type Backend interface {
	// Open opens the store of chain. Where there is none, it creates an
	// empty one if create is set, and returns ErrNoChain if not. A Backend
	// shared with other writers may answer a create with ErrChainExists
	// when the chain is there: it was created by someone else.
	Open(ctx context.Context, chain string, create bool) (Store, error)
	// List returns the chains that exist, in no particular order.
	List(ctx context.Context) ([]string, error)
}

// ValidChain reports whether name can name a chain: the system chain, or
// a tenant id of 1 to 100 letters, digits, '_' and '-'.
func ValidChain(name string) bool {
	if name == SystemChain {
		return true
	}
	if len(name) > 100 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Chains appends records to their chains and reads and verifies each
// chain. Chains are opened when first used. It is safe for concurrent use.
type Chains struct {
	dir Backend
	opt Options

	mu     sync.Mutex
	chains map[string]*chain
	closed bool
}

type chain struct {
	name  string
	store Store
	log   *Log

	vmu  sync.Mutex // one verification at a time
	mark Marker     // where the chain was last found intact
}

// OpenChains opens the chains of dir for appending, with opt for each
// chain's Log (opt.Chain is set per chain). It opens the system chain at
// once. Several Chains, in several processes, may append to the chains of
// one FileDir at once: each append takes its chain's lock (see FileStore).
func OpenChains(ctx context.Context, dir Backend, opt Options) (*Chains, error) {
	c := &Chains{dir: dir, opt: opt, chains: map[string]*chain{}}
	if _, err := c.get(ctx, SystemChain, true); err != nil {
		return nil, err
	}
	return c, nil
}

// get returns the open chain name, opening it (and creating it if create
// is set) when needed; nil when it does not exist and create is not set.
func (c *Chains) get(ctx context.Context, name string, create bool) (*chain, error) {
	if !ValidChain(name) {
		return nil, fmt.Errorf("audit chain %q: not a valid tenant id", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if ch := c.chains[name]; ch != nil {
		return ch, nil
	}
	s, err := c.dir.Open(ctx, name, false)
	created := false
	if errors.Is(err, ErrNoChain) && create {
		s, err = c.dir.Open(ctx, name, true)
		created = err == nil
		if errors.Is(err, ErrChainExists) { // another process created it
			s, err = c.dir.Open(ctx, name, false)
		}
	}
	if errors.Is(err, ErrNoChain) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	opt := c.opt
	opt.Chain = name
	l, err := NewLog(ctx, s, opt)
	if err != nil {
		s.Close()
		return nil, err
	}
	ch := &chain{name: name, store: s, log: l}
	if created && name != SystemChain {
		// Say in the system chain that this chain exists, so that its
		// removal shows. c.mu is held: the system chain is open already.
		rec := Record{Actor: "system", Action: ActionChainCreate, Target: name, Outcome: OutcomeOK}
		if err := c.chains[SystemChain].log.Append(ctx, rec); err != nil {
			l.Close()
			return nil, err
		}
	}
	c.chains[name] = ch
	return ch, nil
}

// Append records r in the chain of r.TenantID (see Log.Append).
func (c *Chains) Append(ctx context.Context, r Record) error {
	ch, err := c.get(ctx, r.TenantID, true)
	if err != nil {
		return fmt.Errorf("audit log failed: %w", err)
	}
	return ch.log.Append(ctx, r)
}

// Read yields the records of chain from its fromSeq-th on (see
// Store.Read); nothing for a chain that has no records yet.
func (c *Chains) Read(ctx context.Context, chain string, fromSeq uint64) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		ch, err := c.get(ctx, chain, false)
		if err != nil {
			yield(Record{}, err)
			return
		}
		if ch == nil {
			return
		}
		for r, err := range ch.store.Read(ctx, fromSeq) {
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

// Verify checks chain from where it was last found intact (the whole
// chain the first time in this process; see VerifyChain), and moves that
// mark to its head when it is intact. It finds any change to records
// added since, a rewrite of the chain up to the mark, and a truncation;
// a change to an older record in place is found by VerifyFull. A chain
// with no records yet is intact and empty.
func (c *Chains) Verify(ctx context.Context, chain string) (Report, error) {
	return c.verify(ctx, chain, false)
}

// VerifyFull checks the whole of chain, as VerifyAll does, and moves the
// mark as Verify does.
func (c *Chains) VerifyFull(ctx context.Context, chain string) (Report, error) {
	return c.verify(ctx, chain, true)
}

func (c *Chains) verify(ctx context.Context, chain string, full bool) (Report, error) {
	if c.opt.SigningKey == nil {
		return Report{}, errors.New("audit verify: no signing key")
	}
	ch, err := c.get(ctx, chain, false)
	if err != nil || ch == nil {
		return Report{}, err
	}
	ch.vmu.Lock()
	defer ch.vmu.Unlock()
	from := ch.mark
	if full {
		from = Marker{}
	}
	rep, err := VerifyChain(ctx, ch.store, c.opt.SigningKey.Public().(ed25519.PublicKey), chain, from, nil)
	if err == nil {
		ch.mark = rep.Marker()
	}
	return rep, err
}

// Head returns the Seq and Hash of the last record of chain.
func (c *Chains) Head(ctx context.Context, chain string) (uint64, Hash, error) {
	ch, err := c.get(ctx, chain, false)
	if err != nil || ch == nil {
		return 0, Hash{}, err
	}
	return ch.store.Head(ctx) // others may have appended since this Log did
}

// Checkpoint signs a checkpoint of every open chain that has records
// since its last one.
func (c *Chains) Checkpoint(ctx context.Context) error {
	var errs []error
	for _, ch := range c.open() {
		errs = append(errs, ch.log.Checkpoint(ctx))
	}
	return errors.Join(errs...)
}

func (c *Chains) open() []*chain {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*chain, 0, len(c.chains))
	for _, ch := range c.chains {
		out = append(out, ch)
	}
	// The system chain last: tenants' chains may still record in it.
	slices.SortFunc(out, func(a, b *chain) int {
		if (a.name == SystemChain) != (b.name == SystemChain) {
			if a.name == SystemChain {
				return 1
			}
			return -1
		}
		return 0
	})
	return out
}

// Close closes every chain (each signs a last checkpoint), then the
// options' Export when it has a Close(context.Context) error method,
// giving it ExportFlush to write what it holds.
func (c *Chains) Close() error {
	chains := c.open()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for _, ch := range chains {
		errs = append(errs, ch.log.Close())
	}
	if e, ok := c.opt.Export.(interface{ Close(context.Context) error }); ok {
		ctx, cancel := context.WithTimeout(context.Background(), ExportFlush)
		errs = append(errs, e.Close(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// ExportFlush is how long Chains.Close lets the exporter write the
// records it still holds: a shutdown waits no longer for a SIEM.
const ExportFlush = 5 * time.Second

// ChainReport is the result of verifying one chain.
type ChainReport struct {
	Chain  string // SystemChain or a tenant id
	Report Report
	Err    error // a *Problem when the chain is not intact
}

// VerifyAll checks every chain of dir in full (see VerifyChain), the
// system chain first, and reports a chain whose creation the system chain
// records but that is gone. Open dir read-only to verify the chains of a
// running server.
func VerifyAll(ctx context.Context, dir Backend, pub ed25519.PublicKey) ([]ChainReport, error) {
	names, err := dir.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit verify: %w", err)
	}
	slices.Sort(names) // the system chain, "", first
	recorded := map[string]bool{}
	var out []ChainReport
	for _, name := range names {
		var visit func(Record)
		if name == SystemChain {
			visit = func(r Record) {
				if r.Action == ActionChainCreate && r.TenantID == "" {
					recorded[r.Target] = true
				}
			}
		}
		s, err := dir.Open(ctx, name, false)
		if err != nil {
			return out, fmt.Errorf("audit verify: %w", err)
		}
		rep, err := VerifyChain(ctx, s, pub, name, Marker{}, visit)
		s.Close()
		var p *Problem
		if err != nil && !errors.As(err, &p) {
			return out, err
		}
		out = append(out, ChainReport{Chain: name, Report: rep, Err: err})
		delete(recorded, name)
	}
	missing := make([]string, 0, len(recorded))
	for name := range recorded {
		missing = append(missing, name)
	}
	slices.Sort(missing)
	for _, name := range missing {
		p := &Problem{Seq: 1, Reason: "the chain is gone, though the system chain records its creation"}
		out = append(out, ChainReport{Chain: name, Report: Report{Problem: p}, Err: p})
	}
	return out, nil
}
