package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
)

// Kinds of the sealed parts of an artifact.
const (
	kindArtifactMeta    = sealing.KindArtifactMeta
	kindArtifactContent = sealing.KindArtifactContent
)

var _ bulwark.ArtifactStore = (*DB)(nil)

// artifactMeta is what meta_ct seals.
type artifactMeta = sealing.ArtifactMeta

// artifactContentID is the record id the content is bound to: task and
// path (a task id holds no NUL; Clean refuses NUL in paths).
func artifactContentID(taskID, path string) string { return sealing.ArtifactContentID(taskID, path) }

func checkArtifactPath(op, p string) error { return storecheck.ArtifactPath(op, p) }

// PutArtifact implements bulwark.ArtifactStore. Path, digest and content
// are sealed with the tenant's data key.
func (db *DB) PutArtifact(ctx context.Context, tenant bulwark.TenantID, a bulwark.Artifact, content []byte) (bulwark.Artifact, error) {
	const op = "sqlite.PutArtifact"
	if err := tenant.Check(op); err != nil {
		return a, err
	}
	if err := checkTaskID(op, a.TaskID); err != nil {
		return a, err
	}
	if err := checkArtifactPath(op, a.Path); err != nil {
		return a, err
	}
	sum := sha256.Sum256(content)
	a.ID = bulwark.ArtifactID(a.TaskID, a.Path)
	a.Size = int64(len(content))
	a.SHA256 = hex.EncodeToString(sum[:])
	a.Created = fromUnix(unixTime(db.now()))
	meta, err := json.Marshal(artifactMeta{Path: a.Path, SHA256: a.SHA256, Uploaded: a.Uploaded})
	if err != nil {
		return a, bulwark.E(bulwark.Internal, op, "the file cannot be stored", err)
	}
	metaCT, err := db.seal(ctx, tenant, kindArtifactMeta, a.TaskID+"\x00"+a.ID, meta)
	if err != nil {
		return a, err
	}
	contentCT, err := db.seal(ctx, tenant, kindArtifactContent, artifactContentID(a.TaskID, a.Path), content)
	if err != nil {
		return a, err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		if _, err := taskStatus(ctx, tx, op, tenant, a.TaskID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO artifacts (task_id, id, tenant_id, size, meta_ct, content_ct, created) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (task_id, id) DO UPDATE SET size = excluded.size, meta_ct = excluded.meta_ct, content_ct = excluded.content_ct, created = excluded.created`,
			a.TaskID, a.ID, tenant, a.Size, metaCT, contentCT, unixTime(a.Created))
		return err
	})
	if err != nil {
		return a, unavailable(op, "store the file", err)
	}
	return a, nil
}

// Artifacts implements bulwark.ArtifactStore.
func (db *DB) Artifacts(ctx context.Context, tenant bulwark.TenantID, taskID string) ([]bulwark.Artifact, error) {
	const op = "sqlite.Artifacts"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	if err := checkTaskID(op, taskID); err != nil {
		return nil, err
	}
	if _, err := db.Task(ctx, tenant, taskID); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, size, meta_ct, created FROM artifacts WHERE tenant_id = ? AND task_id = ?`, tenant, taskID)
	if err != nil {
		return nil, unavailable(op, "list the files", err)
	}
	type row struct {
		a  bulwark.Artifact
		ct []byte
		at int64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.a.ID, &r.a.Size, &r.ct, &r.at); err != nil {
			rows.Close()
			return nil, unavailable(op, "list the files", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "list the files", err)
	}
	out := make([]bulwark.Artifact, 0, len(all))
	for _, r := range all {
		a := r.a
		a.TaskID, a.Created = taskID, fromUnix(r.at)
		if err := db.openMeta(ctx, tenant, &a, r.ct); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y bulwark.Artifact) int { return strings.Compare(x.Path, y.Path) })
	return out, nil
}

// openMeta fills a's path, digest and origin from its sealed metadata.
func (db *DB) openMeta(ctx context.Context, tenant bulwark.TenantID, a *bulwark.Artifact, ct []byte) error {
	pt, err := db.open(ctx, tenant, kindArtifactMeta, a.TaskID+"\x00"+a.ID, ct)
	if err != nil {
		return err
	}
	var m artifactMeta
	if err := json.Unmarshal(pt, &m); err != nil {
		return bulwark.E(bulwark.Internal, "sqlite.openMeta", "a stored file's description is damaged", err)
	}
	a.Path, a.SHA256, a.Uploaded = m.Path, m.SHA256, m.Uploaded
	return nil
}

// ArtifactContent implements bulwark.ArtifactStore. The content is
// checked against its digest as well as its seal.
func (db *DB) ArtifactContent(ctx context.Context, tenant bulwark.TenantID, taskID, path string) (bulwark.Artifact, []byte, error) {
	const op = "sqlite.ArtifactContent"
	a := bulwark.Artifact{TaskID: taskID}
	if err := tenant.Check(op); err != nil {
		return a, nil, err
	}
	if err := checkTaskID(op, taskID); err != nil {
		return a, nil, err
	}
	if err := checkArtifactPath(op, path); err != nil {
		return a, nil, err
	}
	a.ID = bulwark.ArtifactID(taskID, path)
	var metaCT, contentCT []byte
	var at int64
	err := db.r.QueryRowContext(ctx, `SELECT size, meta_ct, content_ct, created FROM artifacts WHERE tenant_id = ? AND task_id = ? AND id = ?`,
		tenant, taskID, a.ID).Scan(&a.Size, &metaCT, &contentCT, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil, bulwark.Errorf(bulwark.NotFound, op, "no such file")
	}
	if err != nil {
		return a, nil, unavailable(op, "read the file", err)
	}
	a.Created = fromUnix(at)
	if err := db.openMeta(ctx, tenant, &a, metaCT); err != nil {
		return a, nil, err
	}
	if a.Path != path {
		return a, nil, bulwark.Errorf(bulwark.NotFound, op, "no such file")
	}
	content, err := db.open(ctx, tenant, kindArtifactContent, artifactContentID(taskID, path), contentCT)
	if err != nil {
		return a, nil, err
	}
	if sum := sha256.Sum256(content); hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(content)) != a.Size {
		return a, nil, bulwark.Errorf(bulwark.Internal, op, "a stored file does not match its digest")
	}
	return a, content, nil
}

// ArtifactUsage implements bulwark.ArtifactStore.
func (db *DB) ArtifactUsage(ctx context.Context, tenant bulwark.TenantID) (int64, error) {
	const op = "sqlite.ArtifactUsage"
	if err := tenant.Check(op); err != nil {
		return 0, err
	}
	var n int64
	if err := db.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM artifacts WHERE tenant_id = ?`, tenant).Scan(&n); err != nil {
		return 0, unavailable(op, "measure the stored files", err)
	}
	return n, nil
}
