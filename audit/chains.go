package audit

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	key Key // what verifications check with: opt.SigningKey's

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
	// created holds, for the system chain, the tenant chains whose
	// creation it records up to mark (under vmu), and again those whose
	// creation it records more than once.
	created, again map[string]bool
	// pending is set while the chain, created by this process, waits for
	// its first record.
	pending atomic.Bool
}

// OpenChains opens the chains of dir for appending, with opt for each
// chain's Log (opt.Chain is set per chain). It opens the system chain at
// once. Several Chains, in several processes, may append to the chains of
// one FileDir at once: each append takes its chain's lock (see FileStore).
func OpenChains(ctx context.Context, dir Backend, opt Options) (*Chains, error) {
	c := &Chains{dir: dir, opt: opt, key: KeyOf(opt.SigningKey, opt.StrictMACs), chains: map[string]*chain{}}
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
		ch.pending.Store(true)
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
	if err := ch.log.Append(ctx, r); err != nil {
		return err
	}
	ch.pending.Store(false)
	return nil
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
// a change to an older record in place is found by VerifyFull.
//
// It checks the system chain first, the same way, for it vouches for
// the tenants' chains: a tenant's chain that is empty or gone although
// the system chain records its creation was emptied or removed, and one
// that holds records whose creation the system chain does not record
// means the system chain was emptied or cut. A chain whose creation is
// not recorded and that has no records yet is intact and empty.
func (c *Chains) Verify(ctx context.Context, chain string) (Report, error) {
	return c.verify(ctx, chain, false)
}

// VerifyFull checks the whole of chain, as VerifyAll does (the system
// chain from where it was last found intact, as Verify does), and moves
// the mark as Verify does.
func (c *Chains) VerifyFull(ctx context.Context, chain string) (Report, error) {
	return c.verify(ctx, chain, true)
}

func (c *Chains) verify(ctx context.Context, chain string, full bool) (Report, error) {
	if c.opt.SigningKey == nil {
		return Report{}, errors.New("audit verify: no signing key")
	}
	if !ValidChain(chain) {
		return Report{}, fmt.Errorf("audit chain %q: not a valid tenant id", chain)
	}
	if chain == SystemChain {
		rep, _, _, err := c.verifySystem(ctx, full, "")
		return rep, err
	}
	created, again, err := c.systemCreated(ctx, chain)
	if err != nil {
		return Report{}, err
	}
	ch, err := c.get(ctx, chain, false)
	if err != nil {
		return Report{}, err
	}
	if ch == nil {
		if created {
			p := &Problem{Seq: 1, Reason: msgChainGone}
			return Report{Problem: p}, p
		}
		return Report{}, nil
	}
	ch.vmu.Lock()
	defer ch.vmu.Unlock()
	rep, err := c.verifyFrom(ctx, ch.store, chain, ch.mark, full, nil)
	if err != nil {
		return rep, err
	}
	if !created && rep.Records > 0 {
		// Created since the system chain was read: its creation was
		// stored before its first record, so it is there now.
		if created, again, err = c.systemCreated(ctx, chain); err != nil {
			return rep, err
		}
	}
	if again {
		p := &Problem{Seq: 1, Reason: msgRecreated}
		rep.Problem = p
		return rep, p
	}
	// A chain this process created has no record until its first append
	// returns: not yet a chain emptied.
	if p := creationProblem(created && !ch.pending.Load(), rep); p != nil {
		rep.Problem = p
		return rep, p
	}
	ch.mark = rep.Marker()
	return rep, nil
}

// verifyFrom verifies the chain in s from mark, where it was last found
// intact, or in full when full is set; a full verification must still
// find what mark vouched for (belowMark). visit is given each record
// read.
func (c *Chains) verifyFrom(ctx context.Context, s Store, chain string, mark Marker, full bool, visit func(Record)) (Report, error) {
	from := mark
	if full {
		from = Marker{}
	}
	var at Hash // the hash at mark.Seq, read again
	rep, err := VerifyChain(ctx, s, c.key, chain, from, func(r Record) {
		if r.Seq == mark.Seq {
			at = r.Hash
		}
		if visit != nil {
			visit(r)
		}
	})
	if err == nil && full {
		err = belowMark(mark, &rep, at)
	}
	return rep, err
}

// verifySystem checks the system chain from where it was last found
// intact (in full when full is set), moves that mark when it is intact,
// and reports whether it records the creation of the chain named tenant,
// and whether more than once.
func (c *Chains) verifySystem(ctx context.Context, full bool, tenant string) (rep Report, created, again bool, err error) {
	sys, err := c.get(ctx, SystemChain, false)
	if err != nil {
		return Report{}, false, false, err
	}
	if sys == nil { // OpenChains opened it: not seen
		p := &Problem{Reason: "the system chain is gone"}
		return Report{Problem: p}, false, false, p
	}
	sys.vmu.Lock()
	defer sys.vmu.Unlock()
	known := sys.created
	full = full || known == nil // what was seen before is not kept
	if full {
		known = nil
	}
	seen, twice := map[string]bool{}, map[string]bool{}
	rep, err = c.verifyFrom(ctx, sys.store, SystemChain, sys.mark, full, func(r Record) {
		if name, ok := chainCreation(r); ok {
			// (Records up to the mark are read again, and in known.)
			if seen[name] || known[name] && r.Seq > sys.mark.Seq {
				twice[name] = true
			}
			seen[name] = true
		}
	})
	if err != nil {
		return rep, false, false, err
	}
	if known == nil {
		sys.created, sys.again = seen, twice
	} else {
		for name := range seen {
			sys.created[name] = true
		}
		for name := range twice {
			sys.again[name] = true
		}
	}
	sys.mark = rep.Marker()
	return rep, sys.created[tenant], sys.again[tenant], nil
}

// systemCreated checks the system chain (see verifySystem) and reports
// whether it records the creation of tenant's chain. A system chain that
// is not intact fails every tenant's verification, since what vouches
// for the tenant's chain is in doubt; the tenant is not told what is
// wrong with it (it holds other tenants' names).
func (c *Chains) systemCreated(ctx context.Context, tenant string) (created, again bool, err error) {
	_, created, again, err = c.verifySystem(ctx, false, tenant)
	var p *Problem
	if errors.As(err, &p) {
		p = &Problem{Reason: "the system chain, which records the creation of each tenant's chain, is not intact: the operator can see where with 'bulwark audit verify'"}
		return false, false, p
	}
	return created, again, err
}

// chainCreation returns the tenant id of a system chain record of a tenant
// chain's creation.
func chainCreation(r Record) (string, bool) {
	if r.Action == ActionChainCreate && r.TenantID == "" && r.Target != "" {
		return r.Target, true
	}
	return "", false
}

// What a verification says of a tenant's chain removed, emptied, or not
// recorded by the system chain.
const (
	msgChainGone  = "the chain is gone, though the system chain records its creation"
	msgChainEmpty = "the chain has no records, though the system chain records its creation: its records were removed"
	msgNotCreated = "the system chain does not record the creation of this chain, which holds records: the system chain was emptied, cut or replaced"
	msgRecreated  = "the system chain records the creation of this chain more than once: the chain was removed and made again, and its records before are gone"
)

// creationProblem returns what is wrong with a tenant's chain, found
// intact as rep says, given whether the system chain records its
// creation; nil when nothing is.
//
// A chain is created when its first record is appended, and its creation
// is recorded (and stored) in the system chain before that record is
// appended: so a chain whose creation is recorded has records, and a
// chain with records has its creation recorded. (A process that stopped
// between the two appends leaves an empty chain whose creation is
// recorded: rare, and said so.)
func creationProblem(created bool, rep Report) *Problem {
	switch {
	case created && rep.Records == 0:
		return &Problem{Seq: 1, Reason: msgChainEmpty + " (or the process that created it stopped before its first record)"}
	case !created && rep.Records > 0:
		return &Problem{Reason: msgNotCreated}
	}
	return nil
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
// system chain first, and checks the chains against the system chain's
// records of their creation: a chain whose creation it records but that
// is gone or empty fails (removed, or emptied), and so does the system
// chain when it is gone while tenant chains remain, or when a tenant's
// chain holds records whose creation it does not record (emptied, cut or
// replaced). Open dir read-only to verify the chains of a running server.
// It returns no reports when dir holds no chain at all: whether there
// should be one is for the caller to know (see ErrNoChain).
func VerifyAll(ctx context.Context, dir Backend, k Key) ([]ChainReport, error) {
	names, err := dir.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit verify: %w", err)
	}
	slices.Sort(names) // the system chain, "", first
	if len(names) > 0 && names[0] != SystemChain {
		p := &Problem{Reason: "the system chain is gone, though tenant chains remain: it was removed"}
		return verifyTenants(ctx, dir, k, names, []ChainReport{{Chain: SystemChain, Report: Report{Problem: p}, Err: p}}, nil, nil)
	}
	created, again := map[string]bool{}, map[string]bool{}
	var out []ChainReport
	if len(names) > 0 {
		visit := func(r Record) {
			if name, ok := chainCreation(r); ok {
				again[name] = again[name] || created[name]
				created[name] = true
			}
		}
		rep, err := verifyOne(ctx, dir, k, SystemChain, visit)
		if err != nil {
			return nil, err
		}
		out = append(out, rep)
		if rep.Err != nil {
			created, again = nil, nil // not to be trusted, nor held against the tenants
		}
		names = names[1:]
	}
	return verifyTenants(ctx, dir, k, names, out, created, again)
}

// verifyTenants is VerifyAll for the tenant chains names, after the
// reports out of the system chain; created holds the chains whose
// creation an intact system chain records (nil when there is none), and
// again those whose creation it records more than once.
func verifyTenants(ctx context.Context, dir Backend, k Key, names []string, out []ChainReport, created, again map[string]bool) ([]ChainReport, error) {
	var unrecorded []string
	for _, name := range names {
		rep, err := verifyOne(ctx, dir, k, name, nil)
		if err != nil {
			return out, err
		}
		if rep.Err == nil && again[name] {
			p := &Problem{Seq: 1, Reason: msgRecreated}
			rep.Report.Problem, rep.Err = p, p
		}
		if rep.Err == nil && created != nil && created[name] && rep.Report.Records == 0 {
			p := creationProblem(true, rep.Report)
			rep.Report.Problem, rep.Err = p, p
		}
		if created != nil && !created[name] && rep.Report.Records > 0 {
			unrecorded = append(unrecorded, name)
		}
		out = append(out, rep)
		delete(created, name)
	}
	if len(unrecorded) > 0 && len(out) > 0 && out[0].Chain == SystemChain && out[0].Err == nil {
		p := &Problem{Reason: fmt.Sprintf("it does not record the creation of the chains of %s, which hold records: the system chain was emptied, cut or replaced",
			strings.Join(unrecorded, ", "))}
		out[0].Report.Problem, out[0].Err = p, p
	}
	missing := make([]string, 0, len(created))
	for name := range created {
		missing = append(missing, name)
	}
	slices.Sort(missing)
	for _, name := range missing {
		p := &Problem{Seq: 1, Reason: msgChainGone}
		out = append(out, ChainReport{Chain: name, Report: Report{Problem: p}, Err: p})
	}
	return out, nil
}

// verifyOne checks the chain name of dir in full; an error is returned
// when it cannot be read, a *Problem in the report.
func verifyOne(ctx context.Context, dir Backend, k Key, name string, visit func(Record)) (ChainReport, error) {
	s, err := dir.Open(ctx, name, false)
	if err != nil {
		return ChainReport{}, fmt.Errorf("audit verify: %w", err)
	}
	rep, err := VerifyChain(ctx, s, k, name, Marker{}, visit)
	s.Close()
	var p *Problem
	if err != nil && !errors.As(err, &p) {
		return ChainReport{}, err
	}
	return ChainReport{Chain: name, Report: rep, Err: err}, nil
}
