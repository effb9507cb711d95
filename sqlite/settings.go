package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
)

// kindSettings is the sealed-record kind of a tenant's settings.
const kindSettings = sealing.KindSettings

// Settings implements bulwark.SettingsStore.
func (db *DB) Settings(ctx context.Context, tenant bulwark.TenantID) (bulwark.Settings, error) {
	const op = "sqlite.Settings"
	var s bulwark.Settings
	if err := tenant.Check(op); err != nil {
		return s, err
	}
	var ct []byte
	err := db.r.QueryRowContext(ctx, `SELECT settings_ct FROM settings WHERE tenant_id = ?`, tenant).Scan(&ct)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, unavailable(op, "read the settings", err)
	}
	pt, err := db.open(ctx, tenant, kindSettings, string(tenant), ct)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(pt, &s); err != nil {
		return bulwark.Settings{}, bulwark.E(bulwark.Internal, op, "the stored settings cannot be read", err)
	}
	return s, nil
}

// PutSettings implements bulwark.SettingsStore. The settings are sealed
// whole with the tenant's data key.
func (db *DB) PutSettings(ctx context.Context, tenant bulwark.TenantID, s bulwark.Settings) (bulwark.Settings, error) {
	const op = "sqlite.PutSettings"
	if err := tenant.Check(op); err != nil {
		return s, err
	}
	s.Updated = fromUnix(unixTime(db.now()))
	pt, err := json.Marshal(s)
	if err != nil {
		return s, bulwark.E(bulwark.Invalid, op, "the settings cannot be stored", err)
	}
	ct, err := db.seal(ctx, tenant, kindSettings, string(tenant), pt)
	if err != nil {
		return s, err
	}
	err = db.authChange(func() error {
		_, err := db.w.ExecContext(ctx, `INSERT INTO settings (tenant_id, settings_ct, updated) VALUES (?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET settings_ct = excluded.settings_ct, updated = excluded.updated`,
			tenant, ct, unixTime(s.Updated))
		return err
	})
	if err != nil {
		return s, unavailable(op, "store the settings", err)
	}
	return s, nil
}
