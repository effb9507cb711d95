package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
)

var _ bulwark.MemoryStore = (*DB)(nil)

// indexKey is tenant's key for search tokens (sealing.TenantKeys.IndexKey).
func (db *DB) indexKey(ctx context.Context, tenant bulwark.TenantID) ([]byte, error) {
	tk, err := db.tenantKeys(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return tk.IndexKey(string(tenant)), nil
}

// sealMemory returns the sealed payload and search tokens of m.
func (db *DB) sealMemory(ctx context.Context, op string, tenant bulwark.TenantID, m bulwark.Memory) ([]byte, string, error) {
	key, err := db.indexKey(ctx, tenant)
	if err != nil {
		return nil, "", err
	}
	payload, err := storecheck.MemoryPayload(m)
	if err != nil {
		return nil, "", bulwark.E(bulwark.Internal, op, "the memory cannot be stored", err)
	}
	ct, err := db.seal(ctx, tenant, sealing.KindMemory, m.ID, payload)
	return ct, storecheck.MemoryWords(key, m), err
}

// AddMemory implements bulwark.MemoryStore.
func (db *DB) AddMemory(ctx context.Context, tenant bulwark.TenantID, m bulwark.Memory) (bulwark.Memory, error) {
	const op = "sqlite.AddMemory"
	if err := tenant.Check(op); err != nil {
		return m, err
	}
	m, err := bulwark.CheckMemory(op, m)
	if err != nil {
		return m, err
	}
	m.ID = bulwark.NewID("mem_")
	m.Created = db.now().UTC()
	m.Updated, m.Rank = m.Created, 0
	ct, words, err := db.sealMemory(ctx, op, tenant, m)
	if err != nil {
		return m, err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memories WHERE tenant_id = ?`, tenant).Scan(&n); err != nil {
			return err
		}
		if n >= bulwark.MaxMemories {
			return bulwark.Errorf(bulwark.QuotaExceeded, op, "the tenant keeps %d memories already, the most it may: forget some first", n)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO memories (id, tenant_id, user_id, task_id, tainted, payload_ct, words, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, tenant, m.User, m.TaskID, boolInt(m.Tainted), ct, words, unixTime(m.Created), unixTime(m.Updated))
		return err
	})
	if err != nil {
		return m, unavailable(op, "store the memory", err)
	}
	return m, nil
}

const memoryColumns = `m.id, m.user_id, m.task_id, m.tainted, m.payload_ct, m.created, m.updated`

// scanMemory reads a row of memoryColumns (and rank, when given) and opens it.
func (db *DB) scanMemory(ctx context.Context, op string, tenant bulwark.TenantID, sc interface{ Scan(...any) error }, rank *float64) (bulwark.Memory, error) {
	var m bulwark.Memory
	var ct []byte
	var created, updated int64
	dest := []any{&m.ID, &m.User, &m.TaskID, &m.Tainted, &ct, &created, &updated}
	if rank != nil {
		dest = append(dest, rank)
	}
	if err := sc.Scan(dest...); err != nil {
		return m, err
	}
	m.Created, m.Updated = fromUnix(created), fromUnix(updated)
	pt, err := db.open(ctx, tenant, sealing.KindMemory, m.ID, ct)
	if err != nil {
		return m, err
	}
	return m, storecheck.OpenMemoryPayload(op, &m, pt)
}

// Memory implements bulwark.MemoryStore.
func (db *DB) Memory(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.Memory, error) {
	const op = "sqlite.Memory"
	if err := tenant.Check(op); err != nil {
		return bulwark.Memory{}, err
	}
	if err := storecheck.MemoryID(op, id); err != nil {
		return bulwark.Memory{}, err
	}
	row := db.r.QueryRowContext(ctx, `SELECT `+memoryColumns+` FROM memories m WHERE m.tenant_id = ? AND m.id = ?`, tenant, id)
	m, err := db.scanMemory(ctx, op, tenant, row, nil)
	if errors.Is(err, sql.ErrNoRows) {
		return m, bulwark.Errorf(bulwark.NotFound, op, "no such memory")
	}
	if err != nil {
		return m, unavailable(op, "read the memory", err)
	}
	return m, nil
}

// UpdateMemory implements bulwark.MemoryStore.
func (db *DB) UpdateMemory(ctx context.Context, tenant bulwark.TenantID, m bulwark.Memory) (bulwark.Memory, error) {
	const op = "sqlite.UpdateMemory"
	old, err := db.Memory(ctx, tenant, m.ID)
	if err != nil {
		return m, err
	}
	if m, err = bulwark.CheckMemory(op, m); err != nil {
		return m, err
	}
	m.User, m.TaskID, m.Created, m.Rank = old.User, old.TaskID, old.Created, 0
	m.Updated = db.now().UTC()
	ct, words, err := db.sealMemory(ctx, op, tenant, m)
	if err != nil {
		return m, err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE memories SET tainted = ?, payload_ct = ?, words = ?, updated = ? WHERE tenant_id = ? AND id = ?`,
			boolInt(m.Tainted), ct, words, unixTime(m.Updated), tenant, m.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return bulwark.Errorf(bulwark.NotFound, op, "no such memory")
		}
		return nil
	})
	if err != nil {
		return m, unavailable(op, "store the memory", err)
	}
	return m, nil
}

// DeleteMemory implements bulwark.MemoryStore.
func (db *DB) DeleteMemory(ctx context.Context, tenant bulwark.TenantID, id string) error {
	const op = "sqlite.DeleteMemory"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := storecheck.MemoryID(op, id); err != nil {
		return err
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM memories WHERE tenant_id = ? AND id = ?`, tenant, id)
	if err != nil {
		return unavailable(op, "delete the memory", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return bulwark.Errorf(bulwark.NotFound, op, "no such memory")
	}
	return nil
}

// FindMemories implements bulwark.MemoryStore: with words, the memories
// holding any of their tokens, best bm25 first; without, newest first.
func (db *DB) FindMemories(ctx context.Context, tenant bulwark.TenantID, q bulwark.MemoryQuery) ([]bulwark.Memory, error) {
	const op = "sqlite.FindMemories"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	key, err := db.indexKey(ctx, tenant)
	if err != nil {
		return nil, err
	}
	limit := q.MemoryLimit()
	var rows *sql.Rows
	ranked := strings.TrimSpace(q.Text) != ""
	if ranked {
		toks := storecheck.MemoryQueryTokens(key, q.Text)
		if len(toks) == 0 {
			return []bulwark.Memory{}, nil
		}
		// Tokens are "w" and hex digits: nothing FTS5 reads as syntax.
		match := strings.Join(toks, " OR ")
		rows, err = db.r.QueryContext(ctx, `SELECT `+memoryColumns+`, -bm25(memories_fts) FROM memories_fts JOIN memories m ON m.seq = memories_fts.rowid
			WHERE memories_fts MATCH ? AND m.tenant_id = ? AND (m.user_id = '' OR m.user_id = ?)
			ORDER BY bm25(memories_fts), m.seq DESC LIMIT ?`, match, tenant, q.User, limit)
	} else {
		rows, err = db.r.QueryContext(ctx, `SELECT `+memoryColumns+` FROM memories m
			WHERE m.tenant_id = ? AND (m.user_id = '' OR m.user_id = ?) ORDER BY m.created DESC, m.seq DESC LIMIT ?`, tenant, q.User, limit)
	}
	if err != nil {
		return nil, unavailable(op, "search the memories", err)
	}
	defer rows.Close()
	out := []bulwark.Memory{}
	for rows.Next() {
		var rank float64
		var rp *float64
		if ranked {
			rp = &rank
		}
		m, err := db.scanMemory(ctx, op, tenant, rows, rp)
		if err != nil {
			return nil, unavailable(op, "read the memories", err)
		}
		m.Rank = rank
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "read the memories", err)
	}
	return out, nil
}
