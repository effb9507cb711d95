package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// CreateSession implements bulwark.SessionStore. The user must be of
// tenant.
func (db *DB) CreateSession(ctx context.Context, tenant bulwark.TenantID, s bulwark.Session, tokenHash []byte) (bulwark.Session, error) {
	const op = "postgres.CreateSession"
	if err := tenant.Check(op); err != nil {
		return s, err
	}
	if len(tokenHash) == 0 {
		return s, bulwark.Errorf(bulwark.Invalid, op, "a session needs its token hash")
	}
	s.ID = bulwark.NewID("s_")
	s.TenantID = tenant
	if s.Created.IsZero() {
		s.Created = db.now()
	}
	s.Created = fromUnix(unixTime(s.Created))
	s.LastSeen = s.Created
	err := db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND id = $2`, tenant, s.UserID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return bulwark.Errorf(bulwark.NotFound, op, "no such user")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, tenant_id, user_id, token_hash, created, last_seen) VALUES ($1, $2, $3, $4, $5, $6)`,
			s.ID, tenant, s.UserID, tokenHash, unixTime(s.Created), unixTime(s.LastSeen))
		return err
	})
	if err != nil {
		return s, unavailable(op, "store the session", err)
	}
	return s, nil
}

// SessionByTokenHash implements bulwark.SessionStore.
func (db *DB) SessionByTokenHash(ctx context.Context, h []byte) (bulwark.Session, error) {
	const op = "postgres.SessionByTokenHash"
	var s bulwark.Session
	var created, lastSeen int64
	err := db.db.QueryRowContext(ctx, `SELECT id, tenant_id, user_id, created, last_seen FROM sessions WHERE token_hash = $1`, h).
		Scan(&s.ID, &s.TenantID, &s.UserID, &created, &lastSeen)
	if errors.Is(err, sql.ErrNoRows) {
		return s, bulwark.Errorf(bulwark.NotFound, op, "no such session")
	}
	if err != nil {
		return s, unavailable(op, "read the session", err)
	}
	s.Created, s.LastSeen = fromUnix(created), fromUnix(lastSeen)
	return s, nil
}

// TouchSession implements bulwark.SessionStore.
func (db *DB) TouchSession(ctx context.Context, tenant bulwark.TenantID, id string, t time.Time) error {
	const op = "postgres.TouchSession"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if _, err := db.db.ExecContext(ctx, `UPDATE sessions SET last_seen = $1 WHERE tenant_id = $2 AND id = $3`, unixTime(t), tenant, id); err != nil {
		return unavailable(op, "update the session", err)
	}
	return nil
}

// DeleteSession implements bulwark.SessionStore.
func (db *DB) DeleteSession(ctx context.Context, tenant bulwark.TenantID, id string) error {
	const op = "postgres.DeleteSession"
	if err := tenant.Check(op); err != nil {
		return err
	}
	res, err := db.db.ExecContext(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return unavailable(op, "end the session", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return bulwark.Errorf(bulwark.NotFound, op, "no such session")
	}
	return nil
}

// DeleteUserSessions implements bulwark.SessionStore.
func (db *DB) DeleteUserSessions(ctx context.Context, tenant bulwark.TenantID, userID string) (int, error) {
	const op = "postgres.DeleteUserSessions"
	if err := tenant.Check(op); err != nil {
		return 0, err
	}
	res, err := db.db.ExecContext(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2`, tenant, userID)
	if err != nil {
		return 0, unavailable(op, "end the sessions", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
