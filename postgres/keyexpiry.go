package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// ExpireAPIKey implements bulwark.APIKeyStore: one conditional UPDATE (an
// expiry only moves earlier), then the key as stored.
func (db *DB) ExpireAPIKey(ctx context.Context, tenant bulwark.TenantID, id string, at time.Time) (bulwark.APIKey, error) {
	const op = "postgres.ExpireAPIKey"
	if err := tenant.Check(op); err != nil {
		return bulwark.APIKey{}, err
	}
	if err := checkRecordID(op, "key", id); err != nil {
		return bulwark.APIKey{}, err
	}
	t := unixTime(at)
	if t <= 0 {
		return bulwark.APIKey{}, bulwark.Errorf(bulwark.Invalid, op, "an expiry is a time after 1970")
	}
	var k bulwark.APIKey
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET expires = $1 WHERE tenant_id = $2 AND id = $3 AND (expires = 0 OR expires > $4)`, t, tenant, id, t); err != nil {
			return err
		}
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 AND id = $2`, tenant, id))
		if errors.Is(err, sql.ErrNoRows) {
			return bulwark.Errorf(bulwark.NotFound, op, "no such key")
		}
		return err
	})
	if err != nil {
		return bulwark.APIKey{}, unavailable(op, "set the key's expiry", err)
	}
	return k, nil
}
