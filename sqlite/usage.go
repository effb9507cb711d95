package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// SharedKeyUsage implements bulwark.UsageStore.
func (db *DB) SharedKeyUsage(ctx context.Context, tenant bulwark.TenantID, day time.Time) (bulwark.Usage, error) {
	const op = "sqlite.SharedKeyUsage"
	var u bulwark.Usage
	if err := tenant.Check(op); err != nil {
		return u, err
	}
	err := db.r.QueryRowContext(ctx, `SELECT input_tokens, output_tokens, cost FROM shared_key_usage WHERE tenant_id = ? AND day = ?`,
		tenant, bulwark.UsageDay(day)).Scan(&u.InputTokens, &u.OutputTokens, &u.Cost)
	if errors.Is(err, sql.ErrNoRows) {
		return u, nil
	}
	if err != nil {
		return u, unavailable(op, "read the shared key usage", err)
	}
	return u, nil
}

// AddSharedKeyUsage implements bulwark.UsageStore.
func (db *DB) AddSharedKeyUsage(ctx context.Context, tenant bulwark.TenantID, day time.Time, u bulwark.Usage) error {
	const op = "sqlite.AddSharedKeyUsage"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if u.InputTokens < 0 || u.OutputTokens < 0 || !(u.Cost >= 0) {
		return bulwark.Errorf(bulwark.Invalid, op, "usage cannot be negative")
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO shared_key_usage (tenant_id, day, input_tokens, output_tokens, cost) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, day) DO UPDATE SET input_tokens = input_tokens + excluded.input_tokens,
			output_tokens = output_tokens + excluded.output_tokens, cost = cost + excluded.cost`,
		tenant, bulwark.UsageDay(day), u.InputTokens, u.OutputTokens, u.Cost)
	if err != nil {
		return unavailable(op, "count the shared key usage", err)
	}
	return nil
}
