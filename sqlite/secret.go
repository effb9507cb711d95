package sqlite

import (
	"context"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// maxSecretLen is the longest secret value, in bytes.
const maxSecretLen = 64 << 10

func checkSecretName(op, name string) error {
	if !secret.ValidName(name) {
		return bulwark.Errorf(bulwark.Invalid, op, "a secret name is 1 to 64 letters, digits and _, not starting with a digit")
	}
	return nil
}

// SetSecret implements bulwark.SecretStore. The value is sealed with the
// tenant's data key, bound to the tenant and the name.
func (db *DB) SetSecret(ctx context.Context, tenant bulwark.TenantID, name, value string) error {
	const op = "sqlite.SetSecret"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkSecretName(op, name); err != nil {
		return err
	}
	switch {
	case value == "":
		return bulwark.Errorf(bulwark.Invalid, op, "a secret's value must not be empty")
	case len(value) < secret.MinSecretLen:
		return bulwark.Errorf(bulwark.Invalid, op, "a secret's value must be at least %d bytes: shorter values cannot be masked reliably in output", secret.MinSecretLen)
	case len(value) > maxSecretLen:
		return bulwark.Errorf(bulwark.Invalid, op, "a secret's value must be at most %d bytes", maxSecretLen)
	}
	ct, err := db.seal(ctx, tenant, kindSecret, name, []byte(value))
	if err != nil {
		return err
	}
	now := unixTime(db.now())
	_, err = db.w.ExecContext(ctx, `INSERT INTO secrets (tenant_id, name, value_ct, created, updated) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, name) DO UPDATE SET value_ct = excluded.value_ct, updated = excluded.updated`,
		tenant, name, ct, now, now)
	if err != nil {
		return unavailable(op, "store the secret", err)
	}
	return nil
}

// ListSecrets implements bulwark.SecretStore.
func (db *DB) ListSecrets(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.SecretInfo, error) {
	const op = "sqlite.ListSecrets"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT name, created, updated FROM secrets WHERE tenant_id = ? ORDER BY name`, tenant)
	if err != nil {
		return nil, unavailable(op, "list the secrets", err)
	}
	defer rows.Close()
	var infos []bulwark.SecretInfo
	for rows.Next() {
		var s bulwark.SecretInfo
		var created, updated int64
		if err := rows.Scan(&s.Name, &created, &updated); err != nil {
			return nil, unavailable(op, "list the secrets", err)
		}
		s.Created, s.Updated = fromUnix(created), fromUnix(updated)
		infos = append(infos, s)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "list the secrets", err)
	}
	return infos, nil
}

// SecretValues implements bulwark.SecretStore. A value that does not
// decrypt fails the whole call: no partial map.
func (db *DB) SecretValues(ctx context.Context, tenant bulwark.TenantID) (map[string]string, error) {
	const op = "sqlite.SecretValues"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT name, value_ct FROM secrets WHERE tenant_id = ?`, tenant)
	if err != nil {
		return nil, unavailable(op, "read the secrets", err)
	}
	type row struct {
		name string
		ct   []byte
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.name, &r.ct); err != nil {
			rows.Close()
			return nil, unavailable(op, "read the secrets", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "read the secrets", err)
	}
	values := make(map[string]string, len(all))
	for _, r := range all {
		pt, err := db.open(ctx, tenant, kindSecret, r.name, r.ct)
		if err != nil {
			return nil, err
		}
		values[r.name] = string(pt)
	}
	return values, nil
}

// DeleteSecret implements bulwark.SecretStore.
func (db *DB) DeleteSecret(ctx context.Context, tenant bulwark.TenantID, name string) error {
	const op = "sqlite.DeleteSecret"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkSecretName(op, name); err != nil {
		return err
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM secrets WHERE tenant_id = ? AND name = ?`, tenant, name)
	if err != nil {
		return unavailable(op, "delete the secret", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return bulwark.Errorf(bulwark.NotFound, op, "no secret named %q", name)
	}
	return nil
}
