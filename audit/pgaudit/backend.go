package pgaudit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// schemaLock is the transaction advisory lock (the one-bigint key space)
// held while the tables are created: "bulwaudt".
const schemaLock int64 = 0x62756c7761756474

// schema creates the tables when they are missing.
const schema = `
CREATE TABLE IF NOT EXISTS audit_chains (
	chain   text PRIMARY KEY,
	created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS audit_records (
	chain text   NOT NULL,
	seq   bigint NOT NULL,
	line  text   NOT NULL,
	PRIMARY KEY (chain, seq)
);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
	chain text   NOT NULL,
	n     bigint NOT NULL,
	line  text   NOT NULL,
	PRIMARY KEY (chain, n)
);
CREATE TABLE IF NOT EXISTS audit_signing_key (
	id             smallint PRIMARY KEY CHECK (id = 1),
	public         bytea    NOT NULL,
	sealed         bytea    NOT NULL,
	master_version bigint   NOT NULL,
	created        timestamptz NOT NULL DEFAULT now()
);`

// Backend keeps audit chains in PostgreSQL (see the package comment). It
// is safe for concurrent use, and any number of Backends, in any number
// of processes, may share one database.
type Backend struct {
	pool     *pgxpool.Pool
	readOnly bool

	lockWait time.Duration // how long Lock waits for another writer
	stall    time.Duration // how long a lock holder may keep PostgreSQL waiting
}

const (
	defaultLockWait = 10 * time.Second
	defaultStall    = 30 * time.Second
)

// New returns a Backend on pool, creating its tables if they are missing.
// The pool stays the caller's: close it after the Chains that use the
// Backend. The database must hold text as UTF-8 (or SQL_ASCII).
func New(ctx context.Context, pool *pgxpool.Pool) (*Backend, error) {
	if err := ensureSchema(ctx, pool); err != nil {
		return nil, err
	}
	return &Backend{pool: pool, lockWait: defaultLockWait, stall: defaultStall}, nil
}

// ReadOnly returns a Backend on pool that creates nothing (no table, no
// chain) and is never used to append: for `bulwark audit verify`, by a
// role that may only read the audit tables.
func ReadOnly(pool *pgxpool.Pool) *Backend {
	return &Backend{pool: pool, readOnly: true, lockWait: defaultLockWait, stall: defaultStall}
}

// ensureSchema creates the tables under a transaction advisory lock, and
// checks that the database keeps text as the records' UTF-8.
func ensureSchema(ctx context.Context, pool *pgxpool.Pool) error {
	const op = "pgaudit.New"
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var enc string
		if err := tx.QueryRow(ctx, `SELECT pg_advisory_xact_lock($1), current_setting('server_encoding')`, schemaLock).Scan(nil, &enc); err != nil {
			return err
		}
		if enc != "UTF8" && enc != "SQL_ASCII" {
			return bulwark.Errorf(bulwark.Invalid, op, "the PostgreSQL database keeps text as %s: the audit log needs a UTF8 database", enc)
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
	var be *bulwark.Error
	if errors.As(err, &be) {
		return err
	}
	if err != nil {
		return bulwark.E(bulwark.Unavailable, op, "cannot create the audit tables in PostgreSQL", err)
	}
	return nil
}

// Open implements audit.Backend. The store it returns is an
// audit.SharedStore; closing it leaves the pool open.
func (b *Backend) Open(ctx context.Context, chain string, create bool) (audit.Store, error) {
	if !audit.ValidChain(chain) {
		return nil, fmt.Errorf("audit chain %q: not a valid tenant id", chain)
	}
	if create && !b.readOnly {
		tag, err := b.pool.Exec(ctx, `INSERT INTO audit_chains (chain) VALUES ($1) ON CONFLICT DO NOTHING`, chain)
		if err != nil {
			return nil, fmt.Errorf("open audit chain: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil, audit.ErrChainExists
		}
		return b.store(chain), nil
	}
	var exists bool
	err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_chains WHERE chain = $1)`, chain).Scan(&exists)
	if err != nil {
		return nil, fmt.Errorf("open audit chain: %w", err)
	}
	if !exists {
		return nil, audit.ErrNoChain
	}
	return b.store(chain), nil
}

// List implements audit.Backend.
func (b *Backend) List(ctx context.Context) ([]string, error) {
	rows, err := b.pool.Query(ctx, `SELECT chain FROM audit_chains`)
	if err != nil {
		return nil, fmt.Errorf("list audit chains: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list audit chains: %w", err)
	}
	return names, nil
}
