package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/secret"
)

// msgWrongKey is what a user sees when the master key is not the one the
// database was written with.
const msgWrongKey = "the master key does not open this database's data keys: was BULWARK_MASTER_KEY changed, or does this node have another master key than the others?"

// Kinds of sealed records, bound into their associated data (the same as
// package sqlite's, through internal/sealing).
const (
	kindSecret     = sealing.KindSecret
	kindTaskInput  = sealing.KindTaskInput
	kindTaskAnswer = sealing.KindTaskAnswer
	kindEvent      = sealing.KindEvent
)

// tenantKeys are the unwrapped data keys of one tenant.
type tenantKeys = sealing.TenantKeys

func dataKeyAD(tenant bulwark.TenantID, v uint32) []byte { return sealing.DataKeyAD(tenant, v) }

// checkKeys verifies at open that the keyring opens the key-check records
// of the versions it holds, that it holds at least one version the
// database knows, and every version that wraps a data key; then records
// checks for its versions that have none yet.
func (db *DB) checkKeys(ctx context.Context) error {
	const op = "postgres.checkKeys"
	kr := db.keys.Load()
	checks, err := db.keyChecks(ctx, db.db)
	if err != nil {
		return unavailable(op, "read the master key checks", err)
	}
	if err := sealing.VerifyKeyring(kr, checks); err != nil {
		return bulwark.E(bulwark.Invalid, op, msgWrongKey, err)
	}
	rows, err := db.db.QueryContext(ctx, `SELECT DISTINCT master_version FROM data_keys`)
	if err != nil {
		return unavailable(op, "read the data keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return unavailable(op, "read the data keys", err)
		}
		if !kr.Has(v) {
			return bulwark.Errorf(bulwark.Invalid, op, "the master key lacks version %d, which still wraps data keys of this database: was BULWARK_MASTER_KEY changed, or a version removed by hand?", v)
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(op, "read the data keys", err)
	}
	rows.Close()
	// Recorded under the key lock held exclusively, and checked again
	// after: of nodes that start at once on a new database with different
	// master keys, the first records its checks and the others are
	// refused here, rather than each wrapping data keys the others cannot
	// open.
	err = db.write(ctx, func(tx *sql.Tx) error {
		if err := lockKeysExclusive(ctx, tx); err != nil {
			return err
		}
		return ensureKeyChecks(ctx, tx, kr, db.now().UnixNano())
	})
	if err != nil {
		return unavailable(op, "record the master key checks", err)
	}
	return nil
}

// lockKeysShared takes the key lock shared until the end of tx: wrapping
// data keys and recording key checks do not run while a rotation or a
// retirement (which take it exclusively) does.
func lockKeysShared(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, lockKeys)
	return err
}

// lockKeysExclusive takes the key lock exclusively until the end of tx.
func lockKeysExclusive(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKeys)
	return err
}

// ensureKeyChecks records a key check for every version of kr that has
// none, then checks that kr opens the check stored for each: another node
// may have recorded one for the same version, with another key, at the
// same time.
func ensureKeyChecks(ctx context.Context, tx *sql.Tx, kr *secret.Keyring, now int64) error {
	for _, v := range kr.Versions() {
		ct, err := kr.KeyCheck(v)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO master_keys (version, check_ct, created) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, int64(v), ct, now); err != nil {
			return err
		}
		var stored []byte
		if err := tx.QueryRowContext(ctx, `SELECT check_ct FROM master_keys WHERE version = $1`, int64(v)).Scan(&stored); err != nil {
			return err
		}
		if err := kr.VerifyKeyCheck(v, stored); err != nil {
			return bulwark.E(bulwark.Invalid, "postgres.ensureKeyChecks", msgWrongKey, &sealing.VersionError{Version: v, Err: err})
		}
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (db *DB) keyChecks(ctx context.Context, q querier) (map[uint32][]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, check_ct FROM master_keys`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	checks := map[uint32][]byte{}
	for rows.Next() {
		var v uint32
		var ct []byte
		if err := rows.Scan(&v, &ct); err != nil {
			return nil, err
		}
		checks[v] = ct
	}
	return checks, rows.Err()
}

// wrappingKeys returns the keyring to wrap a new data key with, inside
// transaction tx, holding the key lock shared: its current version must be
// the newest master version recorded, else another node rotated to a
// version this one lacks and it must be restarted with it.
func (db *DB) wrappingKeys(ctx context.Context, tx *sql.Tx) (*secret.Keyring, error) {
	if err := lockKeysShared(ctx, tx); err != nil {
		return nil, err
	}
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM master_keys`).Scan(&newest); err != nil {
		return nil, err
	}
	kr := db.keys.Load()
	switch {
	case int64(kr.Current()) == newest.Int64:
		return kr, nil
	case int64(kr.Current()) > newest.Int64:
		return kr, ensureKeyChecks(ctx, tx, kr, db.now().UnixNano())
	}
	return nil, bulwark.Errorf(bulwark.Conflict, "postgres.wrappingKeys", "the current master key (version %d) is not the newest of this database (version %d): restart with the current master key", kr.Current(), newest.Int64)
}

// newDataKey makes, wraps and stores data key version v of tenant in tx.
func (db *DB) newDataKey(ctx context.Context, tx *sql.Tx, tenant bulwark.TenantID, v uint32) error {
	kr, err := db.wrappingKeys(ctx, tx)
	if err != nil {
		return err
	}
	wrapped, mv, err := kr.Wrap(dataKeyAD(tenant, v), secret.NewKey())
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO data_keys (tenant_id, version, wrapped, master_version, created) VALUES ($1, $2, $3, $4, $5)`,
		tenant, int64(v), wrapped, int64(mv), db.now().UnixNano())
	return err
}

// tenantKeys returns the unwrapped data keys of tenant, from the cache or
// the database. An unknown tenant is NotFound.
func (db *DB) tenantKeys(ctx context.Context, tenant bulwark.TenantID) (*tenantKeys, error) {
	const op = "postgres.tenantKeys"
	db.dkMu.RLock()
	tk := db.dataKeys[tenant]
	db.dkMu.RUnlock()
	now := db.now()
	if tk != nil && now.Sub(tk.Loaded) < sealing.KeysRecheck {
		return tk, nil
	}
	if tk != nil {
		// Another process may have rotated the master key, which makes a
		// new data key: seal with it from now on.
		var newest sql.NullInt64
		if err := db.db.QueryRowContext(ctx, `SELECT MAX(version) FROM data_keys WHERE tenant_id = $1`, tenant).Scan(&newest); err != nil {
			return nil, unavailable(op, "read the tenant's keys", err)
		}
		if newest.Valid && uint32(newest.Int64) == tk.Current {
			fresh := *tk
			fresh.Loaded = now
			db.dkMu.Lock()
			db.dataKeys[tenant] = &fresh
			db.dkMu.Unlock()
			return &fresh, nil
		}
	}
	type row struct {
		v       uint32
		wrapped []byte
	}
	var wrapped []row
	rows, err := db.db.QueryContext(ctx, `SELECT version, wrapped FROM data_keys WHERE tenant_id = $1`, tenant)
	if err != nil {
		return nil, unavailable(op, "read the tenant's keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.v, &r.wrapped); err != nil {
			return nil, unavailable(op, "read the tenant's keys", err)
		}
		wrapped = append(wrapped, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "read the tenant's keys", err)
	}
	if len(wrapped) == 0 {
		return nil, bulwark.Errorf(bulwark.NotFound, op, "no such tenant")
	}
	tk = &tenantKeys{Loaded: now}
	for _, r := range wrapped {
		kr := db.keys.Load()
		key, err := kr.Unwrap(dataKeyAD(tenant, r.v), r.wrapped)
		if err != nil {
			return nil, bulwark.E(bulwark.Internal, op, msgWrongKey, err)
		}
		tk.Add(r.v, key)
	}
	db.dkMu.Lock()
	db.dataKeys[tenant] = tk
	db.dkMu.Unlock()
	return tk, nil
}

// dropTenantKeys forgets the cached data keys of tenant, or of every tenant
// when tenant is "".
func (db *DB) dropTenantKeys(tenant bulwark.TenantID) {
	db.dkMu.Lock()
	defer db.dkMu.Unlock()
	if tenant == "" {
		clear(db.dataKeys)
		return
	}
	delete(db.dataKeys, tenant)
}

// seal encrypts plaintext for record id of kind in tenant.
func (db *DB) seal(ctx context.Context, tenant bulwark.TenantID, kind, id string, plaintext []byte) ([]byte, error) {
	tk, err := db.tenantKeys(ctx, tenant)
	if err != nil {
		return nil, err
	}
	ct, err := tk.Seal(tenant, kind, id, plaintext)
	if err != nil {
		return nil, bulwark.E(bulwark.Internal, "postgres.seal", "cannot encrypt the record", err)
	}
	return ct, nil
}

// open decrypts a value sealed for record id of kind in tenant. A value
// that does not open (changed, or moved from another tenant or record) is
// an Internal error: never another tenant's data, never an empty value.
func (db *DB) open(ctx context.Context, tenant bulwark.TenantID, kind, id string, ct []byte) ([]byte, error) {
	tk, err := db.tenantKeys(ctx, tenant)
	if err != nil {
		return nil, err
	}
	pt, err := tk.Open(tenant, kind, id, ct)
	if errors.Is(err, secret.ErrUnknownKey) {
		// Sealed with a data key another process made since (a
		// rotation): read the tenant's keys again.
		db.dropTenantKeys(tenant)
		if tk, err = db.tenantKeys(ctx, tenant); err != nil {
			return nil, err
		}
		pt, err = tk.Open(tenant, kind, id, ct)
	}
	if err == nil {
		return pt, nil
	}
	return nil, bulwark.E(bulwark.Internal, "postgres.open",
		"a stored "+kind+" record does not decrypt: it was changed, or moved from another tenant or record",
		fmt.Errorf("%s %q of tenant %s: %w", kind, id, tenant, err))
}

// RotateMaster implements bulwark.KeyAdmin. A PostgreSQL store never
// writes master keys: the operator adds the new version to every node's
// keys first (BULWARK_MASTER_KEY or its file), then runs this, which
// re-wraps every data key with the current version in one transaction
// holding the key lock exclusively, so nodes do not rotate at once. When
// every data key is wrapped with the current version already, it is a
// Conflict, unless the audit signing key kept in this database (by
// audit/pgaudit) is still sealed with another version: then it succeeds,
// re-wrapping nothing, so that the caller goes on to seal that key again.
func (db *DB) RotateMaster(ctx context.Context) (bulwark.KeyRotation, error) {
	const op = "postgres.RotateMaster"
	var rot bulwark.KeyRotation
	err := db.write(ctx, func(tx *sql.Tx) error {
		if err := lockKeysExclusive(ctx, tx); err != nil {
			return err
		}
		kr := db.keys.Load()
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM master_keys`).Scan(&newest); err != nil {
			return err
		}
		rot.Previous = int(newest.Int64)
		if int64(kr.Current()) < newest.Int64 {
			return bulwark.Errorf(bulwark.Conflict, op, "the current master key (version %d) is older than the database's newest (version %d): restart with the current master key", kr.Current(), newest.Int64)
		}
		if int64(kr.Current()) == newest.Int64 {
			var stale int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM data_keys WHERE master_version <> $1`, int64(kr.Current())).Scan(&stale); err != nil {
				return err
			}
			if stale == 0 {
				// The audit signing key may still be sealed with an older
				// version: a rotation that re-wraps nothing lets the
				// caller seal it again (see auditKeySealedWith).
				auditStale, err := auditKeyStale(ctx, tx, kr.Current())
				if err != nil {
					return err
				}
				if !auditStale {
					return bulwark.Errorf(bulwark.Conflict, op, "the master key comes from %s, which bulwark cannot change: add a new version there (v%d:BASE64) on every node and run rotate-master again", db.keySource(), newest.Int64+1)
				}
			}
		}
		if err := ensureKeyChecks(ctx, tx, kr, db.now().UnixNano()); err != nil {
			return err
		}
		n, err := rewrapAll(ctx, tx, kr)
		rot.Version, rot.Rewrapped = int(kr.Current()), n
		if err == nil {
			rot.DataKeys, err = sealing.NewDataKeys(ctx, tx, db.newDataKey)
		}
		if err == nil && db.cfg.OnRotateMaster != nil {
			err = db.cfg.OnRotateMaster(ctx, tx, kr)
		}
		return err
	})
	db.dropTenantKeys("")
	if err != nil {
		return bulwark.KeyRotation{}, unavailable(op, "rotate the master key", err)
	}
	return rot, nil
}

// rewrapAll re-wraps every data key with kr's current version.
func rewrapAll(ctx context.Context, tx *sql.Tx, kr *secret.Keyring) (int, error) {
	type row struct {
		tenant  bulwark.TenantID
		v       uint32
		wrapped []byte
	}
	var all []row
	rows, err := tx.QueryContext(ctx, `SELECT tenant_id, version, wrapped FROM data_keys WHERE master_version <> $1`, int64(kr.Current()))
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.tenant, &r.v, &r.wrapped); err != nil {
			rows.Close()
			return 0, err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range all {
		ad := dataKeyAD(r.tenant, r.v)
		key, err := kr.Unwrap(ad, r.wrapped)
		if err != nil {
			return 0, bulwark.E(bulwark.Invalid, "postgres.rewrapAll", msgWrongKey, err)
		}
		w, mv, err := kr.Wrap(ad, key)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = $1, master_version = $2 WHERE tenant_id = $3 AND version = $4`, w, int64(mv), r.tenant, int64(r.v)); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// RetireMaster implements bulwark.KeyAdmin: it forgets master key version
// v in the database; the operator then removes it from every node's keys.
func (db *DB) RetireMaster(ctx context.Context, v int) error {
	const op = "postgres.RetireMaster"
	if v <= 0 || int64(v) > int64(^uint32(0)) {
		return bulwark.Errorf(bulwark.Invalid, op, "a master key version is a number from 1")
	}
	kr := db.keys.Load()
	var next *secret.Keyring
	err := db.write(ctx, func(tx *sql.Tx) error {
		if err := lockKeysExclusive(ctx, tx); err != nil {
			return err
		}
		var checks, wrapped int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM master_keys WHERE version = $1`, v).Scan(&checks); err != nil {
			return err
		}
		if checks == 0 && !kr.Has(uint32(v)) {
			return bulwark.Errorf(bulwark.NotFound, op, "there is no master key version %d (it may have been retired already)", v)
		}
		if uint32(v) == kr.Current() {
			return bulwark.Errorf(bulwark.Conflict, op, "master key version %d is the current one: run rotate-master first", v)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM data_keys WHERE master_version = $1`, v).Scan(&wrapped); err != nil {
			return err
		}
		if wrapped > 0 {
			return bulwark.Errorf(bulwark.Conflict, op, "master key version %d still wraps %d data keys: run rotate-master first", v, wrapped)
		}
		if err := auditKeySealedWith(ctx, tx, op, v); err != nil {
			return err
		}
		if db.cfg.OnRetireMaster != nil {
			if err := db.cfg.OnRetireMaster(ctx, tx, v); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM master_keys WHERE version = $1`, v); err != nil {
			return err
		}
		next = kr
		if kr.Has(uint32(v)) {
			var err error
			next, err = kr.Without(uint32(v))
			return err
		}
		return nil
	})
	if err != nil {
		return unavailable(op, "retire the master key", err)
	}
	db.keys.Store(next)
	return nil
}

// auditKeySealedWith refuses (Conflict) to retire master key version v
// while the audit signing key that package audit/pgaudit keeps in this
// database (table audit_signing_key, when it exists) is sealed with it:
// without v no node could open the key, and audit checkpoints could no
// longer be signed. The store reads only the version column; sealing the
// key again is the audit package's (a node does it as it starts, and the
// CLI after rotate-master).
func auditKeySealedWith(ctx context.Context, tx *sql.Tx, op string, v int) error {
	n, err := countAuditKeys(ctx, tx, `master_version = $1`, int64(v))
	if err != nil {
		return err
	}
	if n > 0 {
		return bulwark.Errorf(bulwark.Conflict, op, "the audit signing key is still sealed with master key version %d: start a node or run `bulwark keys rotate-master` again, which seal it with the current version, then retire version %d", v, v)
	}
	return nil
}

// auditKeyStale reports whether the audit signing key (if this database
// has one) is sealed with a master key version other than current.
func auditKeyStale(ctx context.Context, tx *sql.Tx, current uint32) (bool, error) {
	n, err := countAuditKeys(ctx, tx, `master_version <> $1`, int64(current))
	return n > 0, err
}

// countAuditKeys counts the rows of audit_signing_key that match where
// (with one argument, arg); 0 when the table does not exist.
func countAuditKeys(ctx context.Context, tx *sql.Tx, where string, arg any) (int, error) {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT to_regclass('audit_signing_key') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_signing_key WHERE `+where, arg).Scan(&n)
	return n, err
}

// KeyStatus implements bulwark.KeyAdmin.
func (db *DB) KeyStatus(ctx context.Context) (bulwark.KeyStatus, error) {
	const op = "postgres.KeyStatus"
	kr := db.keys.Load()
	st := bulwark.KeyStatus{Current: int(kr.Current()), Source: db.keySource()}
	rows, err := db.db.QueryContext(ctx, `SELECT m.version, m.created, COUNT(d.tenant_id) FROM master_keys m
		LEFT JOIN data_keys d ON d.master_version = m.version GROUP BY m.version ORDER BY m.version`)
	if err != nil {
		return st, unavailable(op, "read the master keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		var mk bulwark.MasterKeyInfo
		var created int64
		if err := rows.Scan(&mk.Version, &created, &mk.DataKeys); err != nil {
			return st, unavailable(op, "read the master keys", err)
		}
		mk.Created = fromUnix(created)
		mk.Current = mk.Version == st.Current
		st.Versions = append(st.Versions, mk)
	}
	if err := rows.Err(); err != nil {
		return st, unavailable(op, "read the master keys", err)
	}
	for _, v := range kr.Versions() {
		if !slices.ContainsFunc(st.Versions, func(m bulwark.MasterKeyInfo) bool { return m.Version == int(v) }) {
			st.Versions = append(st.Versions, bulwark.MasterKeyInfo{Version: int(v), Current: v == kr.Current()})
		}
	}
	slices.SortFunc(st.Versions, func(a, b bulwark.MasterKeyInfo) int { return a.Version - b.Version })
	return st, nil
}

func (db *DB) keySource() string {
	if db.cfg.KeySource != "" {
		return db.cfg.KeySource
	}
	return "memory"
}
