package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
)

// PutPendingTOTP implements bulwark.TwoFactorStore. The secret is sealed
// with the tenant's data key, bound to the tenant and the user.
func (db *DB) PutPendingTOTP(ctx context.Context, tenant bulwark.TenantID, userID string, secret []byte) error {
	const op = "sqlite.PutPendingTOTP"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkRecordID(op, "user", userID); err != nil {
		return err
	}
	if len(secret) == 0 {
		return bulwark.Errorf(bulwark.Invalid, op, "a second factor needs a secret")
	}
	ct, err := db.seal(ctx, tenant, sealing.KindTOTP, userID, secret)
	if err != nil {
		return err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = ? AND id = ?`, tenant, userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return bulwark.Errorf(bulwark.NotFound, op, "no such user")
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO user_totp (tenant_id, user_id, secret_ct, enabled, last_step, created) VALUES (?, ?, ?, 0, 0, ?)
			ON CONFLICT (tenant_id, user_id) DO UPDATE SET secret_ct = excluded.secret_ct, created = excluded.created WHERE user_totp.enabled = 0`,
			tenant, userID, ct, unixTime(db.now()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.Errorf(bulwark.Conflict, op, "the second factor is already on: turn it off first")
		}
		return nil
	})
	if err != nil {
		return unavailable(op, "store the second factor", err)
	}
	return nil
}

// TOTP implements bulwark.TwoFactorStore.
func (db *DB) TOTP(ctx context.Context, tenant bulwark.TenantID, userID string) (bulwark.TOTP, error) {
	const op = "sqlite.TOTP"
	if err := tenant.Check(op); err != nil {
		return bulwark.TOTP{}, err
	}
	if err := checkRecordID(op, "user", userID); err != nil {
		return bulwark.TOTP{}, err
	}
	var (
		ct      []byte
		enabled int
		created int64
		t       = bulwark.TOTP{UserID: userID}
	)
	err := db.r.QueryRowContext(ctx, `SELECT secret_ct, enabled, last_step, created,
		(SELECT COUNT(*) FROM recovery_codes r WHERE r.tenant_id = t.tenant_id AND r.user_id = t.user_id)
		FROM user_totp t WHERE tenant_id = ? AND user_id = ?`, tenant, userID).Scan(&ct, &enabled, &t.LastStep, &created, &t.RecoveryLeft)
	if errors.Is(err, sql.ErrNoRows) {
		return bulwark.TOTP{}, bulwark.Errorf(bulwark.NotFound, op, "no second factor")
	}
	if err != nil {
		return bulwark.TOTP{}, unavailable(op, "read the second factor", err)
	}
	if t.Secret, err = db.open(ctx, tenant, sealing.KindTOTP, userID, ct); err != nil {
		return bulwark.TOTP{}, err
	}
	t.Enabled, t.Created = enabled != 0, fromUnix(created)
	return t, nil
}

// EnableTOTP implements bulwark.TwoFactorStore.
func (db *DB) EnableTOTP(ctx context.Context, tenant bulwark.TenantID, userID string, step int64, recoveryHashes [][]byte) error {
	const op = "sqlite.EnableTOTP"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkRecordID(op, "user", userID); err != nil {
		return err
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE user_totp SET enabled = 1, last_step = ? WHERE tenant_id = ? AND user_id = ? AND enabled = 0`, step, tenant, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.Errorf(bulwark.Conflict, op, "no second factor waits to be confirmed: start again")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?`, tenant, userID); err != nil {
			return err
		}
		for _, h := range recoveryHashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (tenant_id, user_id, code_hash) VALUES (?, ?, ?)`, tenant, userID, h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return unavailable(op, "turn the second factor on", err)
	}
	return nil
}

// UseTOTPStep implements bulwark.TwoFactorStore: one UPDATE, so that of
// two writers with the same step only one changes the row.
func (db *DB) UseTOTPStep(ctx context.Context, tenant bulwark.TenantID, userID string, step int64) (bool, error) {
	const op = "sqlite.UseTOTPStep"
	if err := tenant.Check(op); err != nil {
		return false, err
	}
	if err := checkRecordID(op, "user", userID); err != nil {
		return false, err
	}
	res, err := db.w.ExecContext(ctx, `UPDATE user_totp SET last_step = ? WHERE tenant_id = ? AND user_id = ? AND enabled = 1 AND last_step < ?`,
		step, tenant, userID, step)
	if err != nil {
		return false, unavailable(op, "record the code's use", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, unavailable(op, "record the code's use", err)
	}
	return n == 1, nil
}

// UseRecoveryCode implements bulwark.TwoFactorStore.
func (db *DB) UseRecoveryCode(ctx context.Context, tenant bulwark.TenantID, userID string, hash []byte) (bool, error) {
	const op = "sqlite.UseRecoveryCode"
	if err := tenant.Check(op); err != nil {
		return false, err
	}
	if err := checkRecordID(op, "user", userID); err != nil {
		return false, err
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND code_hash = ?
		AND EXISTS (SELECT 1 FROM user_totp t WHERE t.tenant_id = ? AND t.user_id = ? AND t.enabled = 1)`, tenant, userID, hash, tenant, userID)
	if err != nil {
		return false, unavailable(op, "use the recovery code", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, unavailable(op, "use the recovery code", err)
	}
	return n == 1, nil
}

// DeleteTOTP implements bulwark.TwoFactorStore.
func (db *DB) DeleteTOTP(ctx context.Context, tenant bulwark.TenantID, userID string) error {
	const op = "sqlite.DeleteTOTP"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkRecordID(op, "user", userID); err != nil {
		return err
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?`, tenant, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM user_totp WHERE tenant_id = ? AND user_id = ?`, tenant, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.Errorf(bulwark.NotFound, op, "no second factor")
		}
		return nil
	})
	if err != nil {
		return unavailable(op, "remove the second factor", err)
	}
	return nil
}

// TwoFactorUsers implements bulwark.TwoFactorStore.
func (db *DB) TwoFactorUsers(ctx context.Context, tenant bulwark.TenantID) ([]string, error) {
	const op = "sqlite.TwoFactorUsers"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT user_id FROM user_totp WHERE tenant_id = ? AND enabled = 1 ORDER BY user_id`, tenant)
	if err != nil {
		return nil, unavailable(op, "list the second factors", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, unavailable(op, "list the second factors", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "list the second factors", err)
	}
	return ids, nil
}
