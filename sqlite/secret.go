package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

func checkSecretName(op, name string) error { return storecheck.SecretName(op, name) }

// sealID is the record id a secret's value is sealed under (see
// sealing.SecretID).
func sealID(name, hosts, inject string) string { return sealing.SecretID(name, hosts, inject) }

// SetSecret implements bulwark.SecretStore: PutSecret with the value put
// into request headers only.
func (db *DB) SetSecret(ctx context.Context, tenant bulwark.TenantID, name, value string, hosts ...string) error {
	return db.PutSecret(ctx, tenant, bulwark.Secret{Name: name, Value: value, Hosts: hosts})
}

// PutSecret implements bulwark.SecretStore. The value is sealed with the
// tenant's data key, bound to the tenant, the name, the hosts and where
// in a request it may go.
func (db *DB) PutSecret(ctx context.Context, tenant bulwark.TenantID, s bulwark.Secret) error {
	const op = "sqlite.PutSecret"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkSecretName(op, s.Name); err != nil {
		return err
	}
	if err := storecheck.SecretValue(op, s.Value); err != nil {
		return err
	}
	bound, err := egress.BindingHosts(s.Hosts)
	if err != nil {
		return bulwark.E(bulwark.Invalid, op, "a secret's hosts: "+err.Error(), err)
	}
	if err := storecheck.SecretInject(op, len(bound) > 0, s.Inject); err != nil {
		return err
	}
	hostList, inject := strings.Join(bound, ","), injectColumn(s.Inject)
	ct, err := db.seal(ctx, tenant, kindSecret, sealID(s.Name, hostList, inject), []byte(s.Value))
	if err != nil {
		return err
	}
	now := unixTime(db.now())
	// A change of the version servers mask with (authChange): a server
	// keeps each tenant's secrets in memory while the version holds.
	err = db.authChange(func() error {
		_, err := db.w.ExecContext(ctx, `INSERT INTO secrets (tenant_id, name, value_ct, hosts, inject, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, name) DO UPDATE SET value_ct = excluded.value_ct, hosts = excluded.hosts, inject = excluded.inject, updated = excluded.updated`,
			tenant, s.Name, ct, hostList, inject, now, now)
		return err
	})
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
	rows, err := db.r.QueryContext(ctx, `SELECT name, hosts, inject, created, updated FROM secrets WHERE tenant_id = ? ORDER BY name`, tenant)
	if err != nil {
		return nil, unavailable(op, "list the secrets", err)
	}
	defer rows.Close()
	var infos []bulwark.SecretInfo
	for rows.Next() {
		var s bulwark.SecretInfo
		var created, updated int64
		var hosts, inject string
		if err := rows.Scan(&s.Name, &hosts, &inject, &created, &updated); err != nil {
			return nil, unavailable(op, "list the secrets", err)
		}
		s.Hosts = splitHosts(hosts)
		s.Inject = readInject(inject)
		if s.Hosts == nil {
			s.Hosts = []string{} // "hosts": [] in JSON
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
	all, err := db.Secrets(ctx, tenant)
	if err != nil {
		return nil, err
	}
	values := make(map[string]string, len(all))
	for _, s := range all {
		values[s.Name] = s.Value
	}
	return values, nil
}

// Secrets implements bulwark.SecretStore. A value that does not decrypt,
// or whose hosts were changed outside SetSecret, fails the whole call.
func (db *DB) Secrets(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.Secret, error) {
	const op = "sqlite.Secrets"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT name, hosts, inject, value_ct FROM secrets WHERE tenant_id = ? ORDER BY name`, tenant)
	if err != nil {
		return nil, unavailable(op, "read the secrets", err)
	}
	type row struct {
		name, hosts, inject string
		ct                  []byte
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.name, &r.hosts, &r.inject, &r.ct); err != nil {
			rows.Close()
			return nil, unavailable(op, "read the secrets", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "read the secrets", err)
	}
	out := make([]bulwark.Secret, 0, len(all))
	for _, r := range all {
		pt, err := db.open(ctx, tenant, kindSecret, sealID(r.name, r.hosts, r.inject), r.ct)
		if err != nil {
			return nil, err
		}
		out = append(out, bulwark.Secret{Name: r.name, Value: string(pt), Hosts: splitHosts(r.hosts), Inject: readInject(r.inject)})
	}
	return out, nil
}

// injectColumn is how the inject column holds in: "" for headers only (as
// every secret stored before the column was), else its places.
func injectColumn(in bulwark.SecretInject) string {
	if in.IsHeadersOnly() {
		return ""
	}
	return in.String()
}

// readInject reads the inject column. The column is bound into the sealed
// value's associated data, so a value changed outside PutSecret fails to
// open before this is read; what it cannot parse is headers only.
func readInject(s string) bulwark.SecretInject {
	in, err := bulwark.ParseSecretInject(s)
	if err != nil {
		return bulwark.SecretInject{}
	}
	return in
}

func splitHosts(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
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
	var res sql.Result
	err := db.authChange(func() (err error) {
		res, err = db.w.ExecContext(ctx, `DELETE FROM secrets WHERE tenant_id = ? AND name = ?`, tenant, name)
		return err
	})
	if err != nil {
		return unavailable(op, "delete the secret", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return bulwark.Errorf(bulwark.NotFound, op, "no such secret")
	}
	return nil
}
