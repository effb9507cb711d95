package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/secret"
)

// msgWrongKey is what a user sees when the master key is not the one the
// data folder was written with.
const msgWrongKey = "the master key does not open the data keys of this data folder: was BULWARK_MASTER_KEY changed?"

// Kinds of sealed records, bound into their associated data (shared with
// package postgres through internal/sealing).
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
// of the versions it holds, that it holds at least one version the data
// folder knows, and every version that wraps a data key; then records
// checks for its versions that have none yet.
func (db *DB) checkKeys(ctx context.Context) error {
	const op = "sqlite.checkKeys"
	kr := db.keys.Load()
	checks, err := db.keyChecks(ctx, db.w)
	if err != nil {
		return unavailable(op, "read the master key checks", err)
	}
	if err := sealing.VerifyKeyring(kr, checks); err != nil {
		return bulwark.E(bulwark.Invalid, op, msgWrongKey, err)
	}
	rows, err := db.w.QueryContext(ctx, `SELECT DISTINCT master_version FROM data_keys`)
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
			return bulwark.Errorf(bulwark.Invalid, op, "the master key lacks version %d, which still wraps data keys of this data folder: was BULWARK_MASTER_KEY changed, or a version removed from the key file by hand?", v)
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(op, "read the data keys", err)
	}
	rows.Close()
	return db.write(ctx, func(tx *sql.Tx) error { return addKeyChecks(ctx, tx, kr, db.now().UnixNano()) })
}

// addKeyChecks records a key check for every version of kr that has none.
func addKeyChecks(ctx context.Context, tx *sql.Tx, kr *secret.Keyring, now int64) error {
	for _, v := range kr.Versions() {
		ct, err := kr.KeyCheck(v)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO master_keys (version, check_ct, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, v, ct, now); err != nil {
			return err
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

// reloadKeys re-reads the key file, after another process rotated the
// master key, and keeps the result if it opens the key checks of the
// versions it holds. Without a key file it returns the keyring in use.
func (db *DB) reloadKeys(ctx context.Context) (*secret.Keyring, error) {
	if db.cfg.KeyFile == "" {
		return db.keys.Load(), nil
	}
	db.reloadMu.Lock()
	defer db.reloadMu.Unlock()
	kr, err := secret.ReadKeyFile(db.cfg.KeyFile)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "sqlite.reloadKeys", "cannot re-read the master key file", err)
	}
	checks, err := db.keyChecks(ctx, db.r)
	if err != nil {
		return nil, unavailable("sqlite.reloadKeys", "read the master key checks", err)
	}
	for v, ct := range checks {
		if kr.Has(v) {
			if err := kr.VerifyKeyCheck(v, ct); err != nil {
				return nil, bulwark.E(bulwark.Invalid, "sqlite.reloadKeys", msgWrongKey, err)
			}
		}
	}
	db.keys.Store(kr)
	return kr, nil
}

// wrappingKeys returns the keyring to wrap a new data key with, inside
// write transaction tx: its current version must be the newest master
// version recorded, else another process rotated and the key file is
// re-read. This keeps a long-running process from wrapping with a version
// being retired.
func (db *DB) wrappingKeys(ctx context.Context, tx *sql.Tx) (*secret.Keyring, error) {
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM master_keys`).Scan(&newest); err != nil {
		return nil, err
	}
	kr := db.keys.Load()
	switch {
	case int64(kr.Current()) == newest.Int64:
		return kr, nil
	case int64(kr.Current()) > newest.Int64:
		// A rotation wrote the key file but its transaction did not
		// commit: record the new version's check now.
		return kr, addKeyChecks(ctx, tx, kr, db.now().UnixNano())
	}
	kr, err := db.reloadKeys(ctx)
	if err != nil {
		return nil, err
	}
	if int64(kr.Current()) < newest.Int64 {
		return nil, bulwark.Errorf(bulwark.Conflict, "sqlite.wrappingKeys", "the current master key (version %d) is not the newest of this data folder (version %d): restart with the current master key", kr.Current(), newest.Int64)
	}
	return kr, addKeyChecks(ctx, tx, kr, db.now().UnixNano())
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
	_, err = tx.ExecContext(ctx, `INSERT INTO data_keys (tenant_id, version, wrapped, master_version, created) VALUES (?, ?, ?, ?, ?)`,
		tenant, v, wrapped, mv, db.now().UnixNano())
	return err
}

// tenantKeys returns the unwrapped data keys of tenant, from the cache or
// the database. An unknown tenant is NotFound.
func (db *DB) tenantKeys(ctx context.Context, tenant bulwark.TenantID) (*tenantKeys, error) {
	const op = "sqlite.tenantKeys"
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
		if err := db.r.QueryRowContext(ctx, `SELECT MAX(version) FROM data_keys WHERE tenant_id = ?`, tenant).Scan(&newest); err != nil {
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
	rows, err := db.r.QueryContext(ctx, `SELECT version, wrapped FROM data_keys WHERE tenant_id = ?`, tenant)
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
		if errors.Is(err, secret.ErrUnknownKey) {
			if kr, err = db.reloadKeys(ctx); err == nil {
				key, err = kr.Unwrap(dataKeyAD(tenant, r.v), r.wrapped)
			}
		}
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
		return nil, bulwark.E(bulwark.Internal, "sqlite.seal", "cannot encrypt the record", err)
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
	return nil, bulwark.E(bulwark.Internal, "sqlite.open",
		"a stored "+kind+" record does not decrypt: it was changed, or moved from another tenant or record",
		fmt.Errorf("%s %q of tenant %s: %w", kind, id, tenant, err))
}

// RotateMaster implements bulwark.KeyAdmin. With a key file it adds a new
// master key version to the file; with keys from elsewhere (the
// environment) the operator adds the version there first, and it re-wraps
// with the current version given. Either way every data key is re-wrapped
// in one transaction that holds the database's write lock, so processes do
// not rotate at once.
func (db *DB) RotateMaster(ctx context.Context) (bulwark.KeyRotation, error) {
	const op = "sqlite.RotateMaster"
	var rot bulwark.KeyRotation
	err := db.write(ctx, func(tx *sql.Tx) error {
		kr, err := db.reloadKeys(ctx)
		if err != nil {
			return err
		}
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM master_keys`).Scan(&newest); err != nil {
			return err
		}
		rot.Previous = int(newest.Int64)
		next := kr
		if db.cfg.KeyFile != "" {
			if newest.Int64 > int64(kr.Current()) {
				return bulwark.Errorf(bulwark.Conflict, op, "the master key file is older than the data folder (it knows version %d, the data folder %d)", kr.Current(), newest.Int64)
			}
			if kr.Current() == math.MaxUint32 {
				// The next version would wrap to 0, which no key file may
				// hold: data wrapped with it could never be opened again
				// (red team, session 42).
				return bulwark.Errorf(bulwark.Invalid, op, "master key version %d is the last there can be: make a new key file starting at v1 and move the data to it (bulwark backup, then restore with the new key)", kr.Current())
			}
			next = kr.WithNewKey()
			if err := secret.WriteKeyFile(db.cfg.KeyFile, next); err != nil {
				return bulwark.E(bulwark.Unavailable, op, "cannot write the master key file", err)
			}
			// From here the file holds the new version: readers of every
			// version keep working, in this process and, on re-reading
			// the file, in others.
			db.keys.Store(next)
		} else if int64(kr.Current()) <= newest.Int64 {
			var stale int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM data_keys WHERE master_version <> ?`, kr.Current()).Scan(&stale); err != nil {
				return err
			}
			if stale == 0 {
				return bulwark.Errorf(bulwark.Conflict, op, "the master key comes from %s, which bulwark cannot change: add a new version there (v%d:BASE64) and run rotate-master again", db.keySource(), newest.Int64+1)
			}
		}
		if err := addKeyChecks(ctx, tx, next, db.now().UnixNano()); err != nil {
			return err
		}
		n, err := rewrapAll(ctx, tx, next)
		rot.Version, rot.Rewrapped = int(next.Current()), n
		if err != nil {
			return err
		}
		rot.DataKeys, err = sealing.NewDataKeys(ctx, tx, db.newDataKey)
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
	rows, err := tx.QueryContext(ctx, `SELECT tenant_id, version, wrapped FROM data_keys WHERE master_version <> ?`, kr.Current())
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
			return 0, bulwark.E(bulwark.Invalid, "sqlite.rewrapAll", msgWrongKey, err)
		}
		w, mv, err := kr.Wrap(ad, key)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = ?, master_version = ? WHERE tenant_id = ? AND version = ?`, w, mv, r.tenant, r.v); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// RetireMaster implements bulwark.KeyAdmin: it forgets master key version
// v in the database, then removes it from the key file (with keys from the
// environment, the operator removes it there).
func (db *DB) RetireMaster(ctx context.Context, v int) error {
	const op = "sqlite.RetireMaster"
	if v <= 0 || int64(v) > int64(^uint32(0)) {
		return bulwark.Errorf(bulwark.Invalid, op, "a master key version is a number from 1")
	}
	var next *secret.Keyring
	err := db.write(ctx, func(tx *sql.Tx) error {
		kr, err := db.reloadKeys(ctx)
		if err != nil {
			return err
		}
		var checks, wrapped int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM master_keys WHERE version = ?`, v).Scan(&checks); err != nil {
			return err
		}
		if checks == 0 && !kr.Has(uint32(v)) {
			return bulwark.Errorf(bulwark.NotFound, op, "there is no master key version %d (it may have been retired already)", v)
		}
		if uint32(v) == kr.Current() {
			return bulwark.Errorf(bulwark.Conflict, op, "master key version %d is the current one: run rotate-master first", v)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM data_keys WHERE master_version = ?`, v).Scan(&wrapped); err != nil {
			return err
		}
		if wrapped > 0 {
			return bulwark.Errorf(bulwark.Conflict, op, "master key version %d still wraps %d data keys: run rotate-master first", v, wrapped)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM master_keys WHERE version = ?`, v); err != nil {
			return err
		}
		next = kr
		if kr.Has(uint32(v)) {
			next, err = kr.Without(uint32(v))
		}
		return err
	})
	if err != nil {
		return unavailable(op, "retire the master key", err)
	}
	if db.cfg.KeyFile != "" {
		if err := secret.WriteKeyFile(db.cfg.KeyFile, next); err != nil {
			return bulwark.E(bulwark.Unavailable, op, fmt.Sprintf("master key version %d was retired in the database, but the key file could not be rewritten: run retire-master again", v), err)
		}
	}
	db.keys.Store(next)
	return nil
}

// KeyStatus implements bulwark.KeyAdmin.
func (db *DB) KeyStatus(ctx context.Context) (bulwark.KeyStatus, error) {
	const op = "sqlite.KeyStatus"
	kr := db.keys.Load()
	st := bulwark.KeyStatus{Current: int(kr.Current()), Source: db.keySource()}
	rows, err := db.r.QueryContext(ctx, `SELECT m.version, m.created, COUNT(d.tenant_id) FROM master_keys m
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
	switch {
	case db.cfg.KeySource != "":
		return db.cfg.KeySource
	case db.cfg.KeyFile != "":
		return "file " + db.cfg.KeyFile
	}
	return "memory"
}
