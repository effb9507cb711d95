package sqlite

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
	const op = "sqlite.ExpireAPIKey"
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
	// An auth change: a server's key cache holds the old expiry until the
	// version moves (authversion.go).
	err := db.authChange(func() error {
		return db.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET expires = ? WHERE tenant_id = ? AND id = ? AND (expires = 0 OR expires > ?)`, t, tenant, id, t); err != nil {
				return err
			}
			var err error
			k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = ? AND id = ?`, tenant, id))
			if errors.Is(err, sql.ErrNoRows) {
				return bulwark.Errorf(bulwark.NotFound, op, "no such key")
			}
			return err
		})
	})
	if err != nil {
		return bulwark.APIKey{}, unavailable(op, "set the key's expiry", err)
	}
	return k, nil
}
