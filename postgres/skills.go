package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
)

// PutSkill implements bulwark.SkillStore. The description and files are
// sealed with the tenant's data key, bound to the tenant and the name.
func (db *DB) PutSkill(ctx context.Context, tenant bulwark.TenantID, s bulwark.StoredSkill) (bool, error) {
	const op = "postgres.PutSkill"
	if err := tenant.Check(op); err != nil {
		return false, err
	}
	pt, err := storecheck.Skill(op, s)
	if err != nil {
		return false, err
	}
	ct, err := db.seal(ctx, tenant, sealing.KindSkill, s.Name, pt)
	if err != nil {
		return false, err
	}
	now := unixTime(db.now())
	var created int64
	err = db.db.QueryRowContext(ctx, `INSERT INTO skills (tenant_id, name, content_ct, created, updated) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id, name) DO UPDATE SET content_ct = excluded.content_ct, updated = excluded.updated
		RETURNING created`, tenant, s.Name, ct, now, now).Scan(&created)
	if err != nil {
		return false, unavailable(op, "store the skill", err)
	}
	return created == now, nil
}

// ListSkills implements bulwark.SkillStore.
func (db *DB) ListSkills(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.SkillInfo, error) {
	all, err := db.Skills(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]bulwark.SkillInfo, 0, len(all))
	for _, s := range all {
		out = append(out, s.Info())
	}
	return out, nil
}

// Skill implements bulwark.SkillStore.
func (db *DB) Skill(ctx context.Context, tenant bulwark.TenantID, name string) (bulwark.StoredSkill, error) {
	const op = "postgres.Skill"
	if err := tenant.Check(op); err != nil {
		return bulwark.StoredSkill{}, err
	}
	if err := storecheck.SkillName(op, name); err != nil {
		return bulwark.StoredSkill{}, err
	}
	var ct []byte
	var created, updated int64
	err := db.db.QueryRowContext(ctx, `SELECT content_ct, created, updated FROM skills WHERE tenant_id = $1 AND name = $2`, tenant, name).Scan(&ct, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return bulwark.StoredSkill{}, bulwark.Errorf(bulwark.NotFound, op, "no such skill")
	}
	if err != nil {
		return bulwark.StoredSkill{}, unavailable(op, "read the skill", err)
	}
	return db.openSkill(ctx, tenant, name, ct, created, updated)
}

// Skills implements bulwark.SkillStore.
func (db *DB) Skills(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.StoredSkill, error) {
	const op = "postgres.Skills"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT name, content_ct, created, updated FROM skills WHERE tenant_id = $1 ORDER BY name`, tenant)
	if err != nil {
		return nil, unavailable(op, "read the skills", err)
	}
	type row struct {
		name             string
		ct               []byte
		created, updated int64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.name, &r.ct, &r.created, &r.updated); err != nil {
			rows.Close()
			return nil, unavailable(op, "read the skills", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "read the skills", err)
	}
	out := make([]bulwark.StoredSkill, 0, len(all))
	for _, r := range all {
		s, err := db.openSkill(ctx, tenant, r.name, r.ct, r.created, r.updated)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (db *DB) openSkill(ctx context.Context, tenant bulwark.TenantID, name string, ct []byte, created, updated int64) (bulwark.StoredSkill, error) {
	pt, err := db.open(ctx, tenant, sealing.KindSkill, name, ct)
	if err != nil {
		return bulwark.StoredSkill{}, err
	}
	var c storecheck.SkillContent
	if err := json.Unmarshal(pt, &c); err != nil {
		return bulwark.StoredSkill{}, bulwark.E(bulwark.Internal, "postgres.Skill", "a stored skill cannot be read", err)
	}
	return bulwark.StoredSkill{Name: name, Description: c.Description, Files: c.Files, Created: fromUnix(created), Updated: fromUnix(updated)}, nil
}

// DeleteSkill implements bulwark.SkillStore.
func (db *DB) DeleteSkill(ctx context.Context, tenant bulwark.TenantID, name string) error {
	const op = "postgres.DeleteSkill"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := storecheck.SkillName(op, name); err != nil {
		return err
	}
	res, err := db.db.ExecContext(ctx, `DELETE FROM skills WHERE tenant_id = $1 AND name = $2`, tenant, name)
	if err != nil {
		return unavailable(op, "delete the skill", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return bulwark.Errorf(bulwark.NotFound, op, "no such skill")
	}
	return nil
}
