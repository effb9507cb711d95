package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/audit/pgaudit"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/secret"
)

// With a PostgreSQL store the audit log lives in the same database (see
// package pgaudit): one chain per tenant that every node appends to,
// signed with one key sealed with the master key. Nothing of it is kept
// in the data folder.

// sharedAudit is an open store whose database keeps the audit log: its
// pool, and the master keys the signing key is sealed with.
type sharedAudit interface {
	Pool() *pgxpool.Pool
	auditKeys() *secret.Keyring
}

// pgStore is the PostgreSQL store with the master keys it was opened
// with.
type pgStore struct {
	*postgres.DB
	keys *secret.Keyring
}

func (s pgStore) auditKeys() *secret.Keyring { return s.keys }

var _ sharedAudit = pgStore{}

// openSharedAudit opens the audit chains kept in PostgreSQL for
// appending, creating their tables and the shared signing key the first
// time.
func openSharedAudit(ctx context.Context, pg sharedAudit, opt audit.Options) (*audit.Chains, error) {
	const op = "openAudit"
	b, err := pgaudit.New(ctx, pg.Pool())
	if err != nil {
		return nil, auditDBError(op, "the audit log in PostgreSQL cannot be opened", err)
	}
	key, strict, err := pgaudit.SigningKey(ctx, pg.Pool(), pg.auditKeys())
	if err != nil {
		return nil, auditDBError(op, "the audit signing key in PostgreSQL cannot be used", err)
	}
	opt.SigningKey, opt.StrictMACs = key, strict
	l, err := audit.OpenChains(ctx, b, opt)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "the audit log in PostgreSQL cannot be opened", err)
	}
	return l, nil
}

// auditDBError keeps a *bulwark.Error of pgaudit (its message is meant
// for the user) and wraps any other.
func auditDBError(op, msg string, err error) error {
	var be *bulwark.Error
	if errors.As(err, &be) {
		return err
	}
	return bulwark.E(bulwark.Unavailable, op, msg, err)
}

// verifyPostgresAudit checks every audit chain kept in the PostgreSQL
// database at url, reading only (no table nor chain is created), with the
// public half of the signing key that the master key opens. It returns
// nil reports when there is no audit log yet.
func verifyPostgresAudit(ctx context.Context, url string, then func(context.Context, audit.Backend) error) ([]audit.ChainReport, error) {
	const op = "audit verify"
	mk, err := postgresMasterKey()
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "verifying the audit log kept in PostgreSQL needs the master key that seals its signing key: "+bulwark.ErrorMessage(err), err)
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the database URL is not valid")
	}
	pc.MaxConns = 2
	pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot connect to the "+storeLocation{url: url}.String(), err)
	}
	defer pool.Close()
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('audit_records') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot read the audit log from the "+storeLocation{url: url}.String()+": "+scrubURL(errText(err), url), err)
	}
	if !exists {
		return nil, nil
	}
	key, err := pgaudit.VerifyKey(ctx, pool, mk.keys)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		var chains int
		if qerr := pool.QueryRow(ctx, `SELECT COUNT(*) FROM audit_chains`).Scan(&chains); qerr == nil && chains == 0 {
			return nil, nil
		}
		return nil, bulwark.E(bulwark.Conflict, op, "the audit log in PostgreSQL has records but its signing key is gone (table audit_signing_key): restore it from a backup", err)
	}
	if err != nil {
		return nil, err
	}
	reps, err := audit.VerifyAll(ctx, pgaudit.ReadOnly(pool), key)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read: "+scrubURL(err.Error(), url), err)
	}
	if len(reps) == 0 {
		return nil, auditGone("the PostgreSQL database holds no chain (table audit_chains), though the signing key made with them is there: its rows were removed")
	}
	if then != nil {
		return reps, then(ctx, pgaudit.ReadOnly(pool))
	}
	return reps, nil
}

// auditKeyHooks are the postgres.Config hooks that keep the audit signing
// key in step with the master keys: sealed again in the transaction that
// rotates them. (The store itself refuses to retire a version that still
// seals it.)
func auditKeyHooks(cfg *postgres.Config) {
	cfg.OnRotateMaster = func(ctx context.Context, tx *sql.Tx, keys *secret.Keyring) error {
		if _, ok, err := auditKeyVersion(ctx, tx); err != nil || !ok {
			return err
		}
		return pgaudit.RewrapSigningKey(ctx, sqlTx{tx}, keys)
	}
}

// resealAuditKey seals the audit signing key of a PostgreSQL store db
// with its current master key version when it is sealed with an older
// one, and returns that version; ok is false when there was nothing to do
// (or it could not be done: the caller's own error then stands).
func resealAuditKey(ctx context.Context, db store) (version uint32, ok bool) {
	pg, isPG := db.(sharedAudit)
	if !isPG {
		return 0, false
	}
	keys := pg.auditKeys()
	tx, err := pg.Pool().Begin(ctx)
	if err != nil {
		return 0, false
	}
	defer tx.Rollback(ctx)
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('audit_signing_key') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, false
	}
	var v int64
	if err := tx.QueryRow(ctx, `SELECT master_version FROM audit_signing_key WHERE id = 1 FOR UPDATE`).Scan(&v); err != nil || v >= int64(keys.Current()) {
		return 0, false
	}
	if pgaudit.RewrapSigningKey(ctx, tx, keys) != nil || tx.Commit(ctx) != nil {
		return 0, false
	}
	return keys.Current(), true
}

// auditKeySealedWith is the master key version that seals the audit
// signing key of a PostgreSQL store db, for keys status; ok is false for
// another store, or when there is no key yet.
func auditKeySealedWith(ctx context.Context, db store) (version int64, ok bool) {
	pg, isPG := db.(sharedAudit)
	if !isPG {
		return 0, false
	}
	var exists bool
	if err := pg.Pool().QueryRow(ctx, `SELECT to_regclass('audit_signing_key') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, false
	}
	err := pg.Pool().QueryRow(ctx, `SELECT master_version FROM audit_signing_key WHERE id = 1`).Scan(&version)
	return version, err == nil
}

// auditKeyVersion is the master key version the audit signing key is
// sealed with; ok is false when there is no key (or no audit table).
func auditKeyVersion(ctx context.Context, tx *sql.Tx) (v int64, ok bool, err error) {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT to_regclass('audit_signing_key') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, false, err
	}
	err = tx.QueryRowContext(ctx, `SELECT master_version FROM audit_signing_key WHERE id = 1 FOR SHARE`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return v, err == nil, err
}

// sqlTx gives pgaudit a database/sql transaction as its DB.
type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) Exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
	r, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	n, _ := r.RowsAffected()
	return pgconn.NewCommandTag(fmt.Sprintf("UPDATE %d", n)), nil
}

func (t sqlTx) QueryRow(ctx context.Context, q string, args ...any) pgx.Row {
	return sqlRow{t.tx.QueryRowContext(ctx, q, args...)}
}

// sqlRow answers pgx.ErrNoRows for no row, as pgaudit expects.
type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return pgx.ErrNoRows
	}
	return err
}
