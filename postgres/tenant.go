package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
)

// CreateTenant implements bulwark.TenantStore: the tenant and its first
// data key are made in one transaction.
func (db *DB) CreateTenant(ctx context.Context, name string) (bulwark.Tenant, error) {
	const op = "postgres.CreateTenant"
	if err := checkTenantName(op, name); err != nil {
		return bulwark.Tenant{}, err
	}
	t := bulwark.Tenant{ID: bulwark.TenantID(bulwark.NewID("tn_")), Name: name, Created: db.now().UTC()}
	err := db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants WHERE name = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return bulwark.Errorf(bulwark.Conflict, op, "a tenant named %q already exists", name)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created) VALUES ($1, $2, $3)`, t.ID, t.Name, unixTime(t.Created)); err != nil {
			if isCode(err, codeUniqueViolation) { // made by another node meanwhile
				return bulwark.E(bulwark.Conflict, op, fmt.Sprintf("a tenant named %q already exists", name), err)
			}
			return err
		}
		return db.newDataKey(ctx, tx, t.ID, 1)
	})
	if err != nil {
		return bulwark.Tenant{}, unavailable(op, "create the tenant", err)
	}
	t.Created = fromUnix(unixTime(t.Created))
	return t, nil
}

func checkTenantName(op, name string) error { return storecheck.TenantName(op, name) }

// Tenant implements bulwark.TenantStore.
func (db *DB) Tenant(ctx context.Context, id bulwark.TenantID) (bulwark.Tenant, error) {
	const op = "postgres.Tenant"
	if err := id.Check(op); err != nil {
		return bulwark.Tenant{}, err
	}
	return db.tenantWhere(ctx, op, `id = $1`, id)
}

// TenantByName implements bulwark.TenantStore.
func (db *DB) TenantByName(ctx context.Context, name string) (bulwark.Tenant, error) {
	return db.tenantWhere(ctx, "postgres.TenantByName", `name = $1`, name)
}

func (db *DB) tenantWhere(ctx context.Context, op, where string, arg any) (bulwark.Tenant, error) {
	var t bulwark.Tenant
	var created int64
	err := db.db.QueryRowContext(ctx, `SELECT id, name, created FROM tenants WHERE `+where, arg).Scan(&t.ID, &t.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return t, bulwark.Errorf(bulwark.NotFound, op, "no such tenant")
	}
	if err != nil {
		return t, unavailable(op, "read the tenant", err)
	}
	t.Created = fromUnix(created)
	return t, nil
}

// ListTenants implements bulwark.TenantStore.
func (db *DB) ListTenants(ctx context.Context) ([]bulwark.Tenant, error) {
	const op = "postgres.ListTenants"
	rows, err := db.db.QueryContext(ctx, `SELECT id, name, created FROM tenants ORDER BY created, id`)
	if err != nil {
		return nil, unavailable(op, "list the tenants", err)
	}
	defer rows.Close()
	var ts []bulwark.Tenant
	for rows.Next() {
		var t bulwark.Tenant
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &created); err != nil {
			return nil, unavailable(op, "list the tenants", err)
		}
		t.Created = fromUnix(created)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "list the tenants", err)
	}
	return ts, nil
}

// LocalTenant implements bulwark.TenantStore.
func (db *DB) LocalTenant(ctx context.Context) (bulwark.Tenant, error) {
	t, err := db.TenantByName(ctx, bulwark.LocalTenantName)
	if bulwark.ErrorKind(err) != bulwark.NotFound {
		return t, err
	}
	t, err = db.CreateTenant(ctx, bulwark.LocalTenantName)
	if bulwark.ErrorKind(err) == bulwark.Conflict { // another node made it first
		return db.TenantByName(ctx, bulwark.LocalTenantName)
	}
	return t, err
}
