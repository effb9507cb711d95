package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// SharedKeyUsage implements bulwark.UsageStore.
func (db *DB) SharedKeyUsage(ctx context.Context, tenant bulwark.TenantID, day time.Time) (bulwark.Usage, error) {
	const op = "postgres.SharedKeyUsage"
	var u bulwark.Usage
	if err := tenant.Check(op); err != nil {
		return u, err
	}
	err := db.db.QueryRowContext(ctx, `SELECT input_tokens, output_tokens, cost FROM shared_key_usage WHERE tenant_id = $1 AND day = $2`,
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
	const op = "postgres.AddSharedKeyUsage"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if u.InputTokens < 0 || u.OutputTokens < 0 || !(u.Cost >= 0) {
		return bulwark.Errorf(bulwark.Invalid, op, "usage cannot be negative")
	}
	_, err := db.db.ExecContext(ctx, `INSERT INTO shared_key_usage (tenant_id, day, input_tokens, output_tokens, cost) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id, day) DO UPDATE SET input_tokens = shared_key_usage.input_tokens + excluded.input_tokens,
			output_tokens = shared_key_usage.output_tokens + excluded.output_tokens, cost = shared_key_usage.cost + excluded.cost`,
		tenant, bulwark.UsageDay(day), u.InputTokens, u.OutputTokens, u.Cost)
	if err != nil {
		return unavailable(op, "count the shared key usage", err)
	}
	return nil
}
