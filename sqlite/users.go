package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/bulwark-agents/bulwark"
)

const userColumns = `id, tenant_id, email, role, created, updated`

// checkRecordID refuses ids no store could have made.
func checkRecordID(op, what, id string) error {
	if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bulwark.Errorf(bulwark.NotFound, op, "no such %s", what)
	}
	return nil
}

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
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE email = ?`, email).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return bulwark.Errorf(bulwark.Conflict, op, "a user with this email already exists")
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
	res, err := db.w.ExecContext(ctx, `UPDATE users SET `+set+`, updated = ? WHERE tenant_id = ? AND id = ?`,
		value, unixTime(db.now()), tenant, id)
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
	var hash string
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = ?`, e), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return bulwark.User{}, "", bulwark.Errorf(bulwark.NotFound, op, "no such user")
	}
	if err != nil {
		return bulwark.User{}, "", unavailable(op, "read the user", err)
	}
	return u, hash, nil
}
