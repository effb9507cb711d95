package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
)

const userColumns = `id, tenant_id, email, role, created, updated`

// checkRecordID refuses ids no store could have made.
func checkRecordID(op, what, id string) error { return storecheck.RecordID(op, what, id) }

// CreateUser implements bulwark.UserStore.
func (db *DB) CreateUser(ctx context.Context, tenant bulwark.TenantID, u bulwark.User, passwordHash string) (bulwark.User, error) {
	const op = "sqlite.CreateUser"
	if err := tenant.Check(op); err != nil {
		return u, err
	}
	email, err := bulwark.NormalizeEmail(u.Email)
	if err != nil {
		return u, err
	}
	if !u.Role.Valid() {
		return u, bulwark.Errorf(bulwark.Invalid, op, "a user's role is viewer, member, admin or owner")
	}
	if passwordHash == "" {
		return u, bulwark.Errorf(bulwark.Invalid, op, "a user needs a password")
	}
	now := fromUnix(unixTime(db.now()))
	u = bulwark.User{ID: bulwark.NewID("u_"), TenantID: tenant, Email: email, Role: u.Role, Created: now, Updated: now}
	err = db.write(ctx, func(tx *sql.Tx) error {
		var n int
		// Only this tenant's users count: whether another tenant has the
		// address is none of this tenant's business.
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = ? AND email = ?`, tenant, email).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return bulwark.Errorf(bulwark.Conflict, op, "this tenant already has a user with this email")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.ID, tenant, email, u.Role, unixTime(now), unixTime(now), passwordHash)
		return err
	})
	if err != nil {
		return bulwark.User{}, unavailable(op, "store the user", err)
	}
	return u, nil
}

func scanUser(row interface{ Scan(...any) error }, extra ...any) (bulwark.User, error) {
	var u bulwark.User
	var created, updated int64
	err := row.Scan(append([]any{&u.ID, &u.TenantID, &u.Email, &u.Role, &created, &updated}, extra...)...)
	u.Created, u.Updated = fromUnix(created), fromUnix(updated)
	return u, err
}

// User implements bulwark.UserStore.
func (db *DB) User(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.User, error) {
	const op = "sqlite.User"
	if err := tenant.Check(op); err != nil {
		return bulwark.User{}, err
	}
	if err := checkRecordID(op, "user", id); err != nil {
		return bulwark.User{}, err
	}
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return bulwark.User{}, bulwark.Errorf(bulwark.NotFound, op, "no such user")
	}
	if err != nil {
		return bulwark.User{}, unavailable(op, "read the user", err)
	}
	return u, nil
}

// ListUsers implements bulwark.UserStore.
func (db *DB) ListUsers(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.User, error) {
	const op = "sqlite.ListUsers"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = ? ORDER BY created, id`, tenant)
	if err != nil {
		return nil, unavailable(op, "list the users", err)
	}
	defer rows.Close()
	var us []bulwark.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, unavailable(op, "list the users", err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "list the users", err)
	}
	return us, nil
}

// SetUserRole implements bulwark.UserStore.
func (db *DB) SetUserRole(ctx context.Context, tenant bulwark.TenantID, id string, role bulwark.Role) (bulwark.User, error) {
	const op = "sqlite.SetUserRole"
	if err := tenant.Check(op); err != nil {
		return bulwark.User{}, err
	}
	if !role.Valid() {
		return bulwark.User{}, bulwark.Errorf(bulwark.Invalid, op, "a user's role is viewer, member, admin or owner")
	}
	if err := db.updateUser(ctx, op, tenant, id, `role = ?`, role); err != nil {
		return bulwark.User{}, err
	}
	return db.User(ctx, tenant, id)
}

// SetPasswordHash implements bulwark.UserStore.
func (db *DB) SetPasswordHash(ctx context.Context, tenant bulwark.TenantID, id, passwordHash string) error {
	const op = "sqlite.SetPasswordHash"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if passwordHash == "" {
		return bulwark.Errorf(bulwark.Invalid, op, "a user needs a password")
	}
	return db.updateUser(ctx, op, tenant, id, `password_hash = ?`, passwordHash)
}

func (db *DB) updateUser(ctx context.Context, op string, tenant bulwark.TenantID, id, set string, value any) error {
	if err := checkRecordID(op, "user", id); err != nil {
		return err
	}
	var res sql.Result
	err := db.authChange(func() (err error) {
		res, err = db.w.ExecContext(ctx, `UPDATE users SET `+set+`, updated = ? WHERE tenant_id = ? AND id = ?`,
			value, unixTime(db.now()), tenant, id)
		return err
	})
	if err != nil {
		return unavailable(op, "update the user", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return bulwark.Errorf(bulwark.NotFound, op, "no such user")
	}
	return nil
}

// UserByEmail implements bulwark.UserStore.
func (db *DB) UserByEmail(ctx context.Context, email string) (bulwark.User, string, error) {
	const op = "sqlite.UserByEmail"
	e, err := bulwark.NormalizeEmail(email)
	if err != nil {
		return bulwark.User{}, "", bulwark.Errorf(bulwark.NotFound, op, "no such user")
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = ? LIMIT 2`, e)
	if err != nil {
		return bulwark.User{}, "", unavailable(op, "read the user", err)
	}
	defer rows.Close()
	var found []bulwark.User
	var hash string
	for rows.Next() {
		u, err := scanUser(rows, &hash)
		if err != nil {
			return bulwark.User{}, "", unavailable(op, "read the user", err)
		}
		found = append(found, u)
	}
	if err := rows.Err(); err != nil {
		return bulwark.User{}, "", unavailable(op, "read the user", err)
	}
	switch len(found) {
	case 0:
		return bulwark.User{}, "", bulwark.Errorf(bulwark.NotFound, op, "no such user")
	case 1:
		return found[0], hash, nil
	}
	return bulwark.User{}, "", bulwark.Errorf(bulwark.Conflict, op, "several tenants have a user with this email: name the tenant")
}

// UsersByEmail implements bulwark.UserStore.
func (db *DB) UsersByEmail(ctx context.Context, email string, limit int) ([]bulwark.User, []string, error) {
	const op = "sqlite.UsersByEmail"
	e, err := bulwark.NormalizeEmail(email)
	if err != nil || limit <= 0 {
		return nil, nil, nil
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = ? ORDER BY created, id LIMIT ?`, e, limit)
	if err != nil {
		return nil, nil, unavailable(op, "read the users", err)
	}
	defer rows.Close()
	var (
		users  []bulwark.User
		hashes []string
	)
	for rows.Next() {
		var hash string
		u, err := scanUser(rows, &hash)
		if err != nil {
			return nil, nil, unavailable(op, "read the users", err)
		}
		users, hashes = append(users, u), append(hashes, hash)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, unavailable(op, "read the users", err)
	}
	return users, hashes, nil
}

// TenantUserByEmail implements bulwark.UserStore.
func (db *DB) TenantUserByEmail(ctx context.Context, tenant bulwark.TenantID, email string) (bulwark.User, string, error) {
	const op = "sqlite.TenantUserByEmail"
	if err := tenant.Check(op); err != nil {
		return bulwark.User{}, "", err
	}
	e, err := bulwark.NormalizeEmail(email)
	if err != nil {
		return bulwark.User{}, "", bulwark.Errorf(bulwark.NotFound, op, "no such user")
	}
	var hash string
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE tenant_id = ? AND email = ?`, tenant, e), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return bulwark.User{}, "", bulwark.Errorf(bulwark.NotFound, op, "no such user")
	}
	if err != nil {
		return bulwark.User{}, "", unavailable(op, "read the user", err)
	}
	return u, hash, nil
}

// DeleteUser implements bulwark.UserStore. The user's sessions and keys
// go in the same transaction (the schema cascades; they are counted
// first).
func (db *DB) DeleteUser(ctx context.Context, tenant bulwark.TenantID, id string) (sessions, keys int, err error) {
	const op = "sqlite.DeleteUser"
	if err := tenant.Check(op); err != nil {
		return 0, 0, err
	}
	if err := checkRecordID(op, "user", id); err != nil {
		return 0, 0, err
	}
	err = db.authChange(func() error {
		return db.write(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE tenant_id = ? AND user_id = ?`, tenant, id).Scan(&sessions); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE tenant_id = ? AND creator_user = ?`, tenant, id).Scan(&keys); err != nil {
				return err
			}
			// Explicit deletes, so that nothing depends on foreign keys being on.
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE tenant_id = ? AND user_id = ?`, tenant, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE tenant_id = ? AND creator_user = ?`, tenant, id); err != nil {
				return err
			}
			for _, table := range []string{"recovery_codes", "user_totp"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE tenant_id = ? AND user_id = ?`, tenant, id); err != nil {
					return err
				}
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE tenant_id = ? AND id = ?`, tenant, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return bulwark.Errorf(bulwark.NotFound, op, "no such user")
			}
			return nil
		})
	})
	if err != nil {
		return 0, 0, unavailable(op, "delete the user", err)
	}
	return sessions, keys, nil
}
