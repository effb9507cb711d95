package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
)

const apiKeyColumns = `id, tenant_id, prefix, name, role, scopes, created_by, creator_user, creator_key, created, expires, last_used`

// CreateAPIKey implements bulwark.APIKeyStore.
func (db *DB) CreateAPIKey(ctx context.Context, tenant bulwark.TenantID, k bulwark.APIKey, hash []byte) (bulwark.APIKey, error) {
	const op = "sqlite.CreateAPIKey"
	if err := tenant.Check(op); err != nil {
		return k, err
	}
	if !k.Role.Valid() {
		return k, bulwark.Errorf(bulwark.Invalid, op, "a key's role is viewer, member, admin or owner")
	}
	return db.insertAPIKey(ctx, op, tenant, k, hash)
}

// CreateOperatorKey implements bulwark.APIKeyStore.
func (db *DB) CreateOperatorKey(ctx context.Context, k bulwark.APIKey, hash []byte) (bulwark.APIKey, error) {
	k.Role = bulwark.RoleOperator
	return db.insertAPIKey(ctx, "sqlite.CreateOperatorKey", "", k, hash)
}

func (db *DB) insertAPIKey(ctx context.Context, op string, tenant bulwark.TenantID, k bulwark.APIKey, hash []byte) (bulwark.APIKey, error) {
	if len(hash) == 0 || len(k.Prefix) < 8 {
		return k, bulwark.Errorf(bulwark.Invalid, op, "a key needs its prefix and hash")
	}
	if k.Name == "" || len(k.Name) > 100 {
		return k, bulwark.Errorf(bulwark.Invalid, op, "a key's name is 1 to 100 characters")
	}
	k.ID = bulwark.NewID("k_")
	k.TenantID = tenant
	k.Created = fromUnix(unixTime(db.now()))
	k.LastUsed = time.Time{}
	var expires int64
	if !k.Expires.IsZero() {
		expires = unixTime(k.Expires)
		k.Expires = fromUnix(expires)
	}
	if tenant == "" && (k.CreatorUser != "" || k.CreatorKey != "") {
		return k, bulwark.Errorf(bulwark.Invalid, op, "an operator key carries no user's or key's rights")
	}
	// The user and key the key comes from are of its tenant (the foreign
	// keys check only that they exist).
	var err error
	for _, c := range []struct{ id, table, what string }{{k.CreatorUser, "users", "user"}, {k.CreatorKey, "api_keys", "key"}} {
		if c.id == "" || err != nil {
			continue
		}
		var n int
		err = db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+c.table+` WHERE tenant_id = ? AND id = ?`, tenant, c.id).Scan(&n)
		if err == nil && n == 0 {
			return k, bulwark.Errorf(bulwark.NotFound, op, "the %s the key comes from does not exist", c.what)
		}
	}
	if err == nil {
		_, err = db.w.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
			k.ID, nullTenant(tenant), k.Prefix, k.Name, k.Role, strings.Join(k.Scopes, " "), k.CreatedBy,
			nullString(k.CreatorUser), nullString(k.CreatorKey), unixTime(k.Created), expires, hash)
	}
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return k, bulwark.E(bulwark.Conflict, op, "a key with this prefix exists", err)
		}
		if strings.Contains(err.Error(), "FOREIGN KEY") {
			return k, bulwark.E(bulwark.NotFound, op, "the user or key the key comes from does not exist", err)
		}
		return k, unavailable(op, "store the key", err)
	}
	return k, nil
}

func scanAPIKey(row interface{ Scan(...any) error }, extra ...any) (bulwark.APIKey, error) {
	var k bulwark.APIKey
	var tenant, creatorUser, creatorKey sql.NullString
	var scopes string
	var created, expires, lastUsed int64
	err := row.Scan(append([]any{&k.ID, &tenant, &k.Prefix, &k.Name, &k.Role, &scopes, &k.CreatedBy, &creatorUser, &creatorKey, &created, &expires, &lastUsed}, extra...)...)
	k.TenantID = bulwark.TenantID(tenant.String)
	k.CreatorUser, k.CreatorKey = creatorUser.String, creatorKey.String
	k.Scopes = strings.Fields(scopes)
	k.Created = fromUnix(created)
	if expires != 0 {
		k.Expires = fromUnix(expires)
	}
	if lastUsed != 0 {
		k.LastUsed = fromUnix(lastUsed)
	}
	return k, err
}

// APIKeyByPrefix implements bulwark.APIKeyStore.
func (db *DB) APIKeyByPrefix(ctx context.Context, prefix string) (bulwark.APIKey, []byte, error) {
	const op = "sqlite.APIKeyByPrefix"
	var hash []byte
	k, err := scanAPIKey(db.readQueryRow(ctx, `SELECT `+apiKeyColumns+`, hash FROM api_keys WHERE prefix = ?`, prefix), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return bulwark.APIKey{}, nil, bulwark.Errorf(bulwark.NotFound, op, "no such key")
	}
	if err != nil {
		return bulwark.APIKey{}, nil, unavailable(op, "read the key", err)
	}
	return k, hash, nil
}

// ListAPIKeys implements bulwark.APIKeyStore.
func (db *DB) ListAPIKeys(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.APIKey, error) {
	const op = "sqlite.ListAPIKeys"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = ? ORDER BY created, id`, tenant)
	if err != nil {
		return nil, unavailable(op, "list the keys", err)
	}
	defer rows.Close()
	var ks []bulwark.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, unavailable(op, "list the keys", err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "list the keys", err)
	}
	return ks, nil
}

// DeleteAPIKey implements bulwark.APIKeyStore.
func (db *DB) DeleteAPIKey(ctx context.Context, tenant bulwark.TenantID, id string) error {
	const op = "sqlite.DeleteAPIKey"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkRecordID(op, "key", id); err != nil {
		return err
	}
	// The key and every key made from it, explicitly (the schema also
	// cascades).
	var res sql.Result
	err := db.authChange(func() (err error) {
		res, err = db.w.ExecContext(ctx, `WITH RECURSIVE tree (id) AS (
			SELECT id FROM api_keys WHERE tenant_id = ? AND id = ?
			UNION SELECT k.id FROM api_keys k JOIN tree t ON k.creator_key = t.id
		)
		DELETE FROM api_keys WHERE id IN tree`, tenant, id)
		return err
	})
	if err != nil {
		return unavailable(op, "revoke the key", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return bulwark.Errorf(bulwark.NotFound, op, "no such key")
	}
	return nil
}

// TouchAPIKey implements bulwark.APIKeyStore. The tenant "" names an
// operator key.
func (db *DB) TouchAPIKey(ctx context.Context, tenant bulwark.TenantID, id string, t time.Time) error {
	const op = "sqlite.TouchAPIKey"
	_, err := db.w.ExecContext(ctx, `UPDATE api_keys SET last_used = ? WHERE id = ? AND tenant_id IS ?`,
		unixTime(t), id, nullTenant(tenant))
	if err != nil {
		return unavailable(op, "update the key", err)
	}
	return nil
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTenant(t bulwark.TenantID) any {
	if t == "" {
		return nil
	}
	return string(t)
}
