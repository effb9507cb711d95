package postgres

import (
	"context"

	"github.com/bulwark-agents/bulwark"
)

// AuthVersion implements bulwark.AuthVersioner: one row, read at every
// request of a server that caches keys, users and settings. Triggers
// (migration 0009) move it in the transaction of every change of them, so
// it is always stable: a change and its version commit together.
func (db *DB) AuthVersion(ctx context.Context) (uint64, bool, error) {
	var v int64
	if err := db.pool.QueryRow(ctx, `SELECT version FROM auth_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, false, unavailable("postgres.AuthVersion", "read the version of the keys", err)
	}
	return uint64(v), true, nil
}

var _ bulwark.AuthVersioner = (*DB)(nil)
