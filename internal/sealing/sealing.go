// Package sealing is how Bulwark's stores (sqlite, postgres) seal the
// records they keep: the kinds of sealed records, the associated data each
// is bound to, and the tenants' unwrapped data keys. Both stores use it,
// so a sealed value copied verbatim from one to the other opens there with
// the same master key.
package sealing

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// Kinds of sealed records, bound into their associated data.
const (
	KindSecret          = "secret"
	KindTaskInput       = "task.input"
	KindTaskAnswer      = "task.answer"
	KindEvent           = "event"
	KindDataKey         = "datakey"
	KindSettings        = "settings"
	KindArtifactMeta    = "artifact.meta"
	KindArtifactContent = "artifact"
	KindCheckpoint      = "checkpoint"
	KindCheckpointBlob  = "checkpoint.blob"
	KindControl         = "control"
	KindScheduleInput   = "schedule.input"
	KindMemory          = "memory"
	KindSkill           = "skill"
	KindTOTP            = "totp"
)

// DataKeyAD is the associated data data key version v of tenant is
// wrapped under.
func DataKeyAD(tenant bulwark.TenantID, v uint32) []byte {
	return secret.AD(string(tenant), KindDataKey, strconv.FormatUint(uint64(v), 10))
}

// SecretID is the record id a secret's value is sealed under: its name,
// its hosts when it has any, and where in a request it may go (inject, the
// stored column) when that is more than headers, so that neither can be
// changed in the database without the value failing to open. A secret
// stored before inject existed has the id it had.
func SecretID(name, hosts, inject string) string {
	id := name
	if hosts != "" || inject != "" {
		id += "\x00" + hosts
	}
	if inject != "" {
		id += "\x00inject=" + inject
	}
	return id
}

// EventID is the record id an event's payload is bound to.
func EventID(taskID string, seq int64) string {
	return taskID + "/" + strconv.FormatInt(seq, 10)
}

// ArtifactContentID is the record id an artifact's content is bound to:
// task and path (a task id holds no NUL; paths are refused with one).
func ArtifactContentID(taskID, path string) string { return taskID + "\x00" + path }

// ArtifactMetaID is the record id an artifact's metadata is bound to.
func ArtifactMetaID(taskID, id string) string { return taskID + "\x00" + id }

// CheckpointID is the record id a task's checkpoint at seq is bound to.
func CheckpointID(taskID string, seq int64) string {
	return taskID + "\x00" + strconv.FormatInt(seq, 10)
}

// CheckpointBlobID is the record id a checkpoint blob of a task is bound
// to: the task and the blob's id (bulwark.BlobID of its content).
func CheckpointBlobID(taskID, id string) string { return taskID + "\x00" + id }

// ArtifactMeta is what an artifact's sealed metadata holds.
type ArtifactMeta struct {
	Path     string `json:"path"`
	SHA256   string `json:"sha256"`
	Uploaded bool   `json:"uploaded,omitempty"`
}

// TenantKeys are the unwrapped data keys of one tenant, by version.
// Loaded is when a store last read which versions there are: a store
// trusts them for KeysRecheck, then looks whether another process made a
// newer one (a master key rotation makes a new data key for every tenant).
type TenantKeys struct {
	Current uint32
	Keys    map[uint32][]byte
	Loaded  time.Time
}

// KeysRecheck is how long a store seals with the data keys it read before
// it looks for a newer version. A process that did not rotate seals with
// the data key a rotation replaced for at most this long after it.
const KeysRecheck = time.Second

// Add keeps data key version v, making it current when it is the newest.
func (tk *TenantKeys) Add(v uint32, key []byte) {
	if tk.Keys == nil {
		tk.Keys = map[uint32][]byte{}
	}
	tk.Keys[v] = key
	tk.Current = max(tk.Current, v)
}

// Seal encrypts plaintext for record id of kind in tenant with the current
// data key.
func (tk *TenantKeys) Seal(tenant bulwark.TenantID, kind, id string, plaintext []byte) ([]byte, error) {
	key, ok := tk.Keys[tk.Current]
	if !ok {
		return nil, secret.ErrUnknownKey
	}
	return secret.Seal(key, tk.Current, secret.AD(string(tenant), kind, id), plaintext)
}

// Open decrypts a value sealed for record id of kind in tenant, with the
// data key version the value names.
func (tk *TenantKeys) Open(tenant bulwark.TenantID, kind, id string, ct []byte) ([]byte, error) {
	v, err := secret.KeyVersion(ct)
	if err != nil {
		return nil, err
	}
	key, ok := tk.Keys[v]
	if !ok {
		return nil, secret.ErrUnknownKey
	}
	return secret.Open(key, secret.AD(string(tenant), kind, id), ct)
}

// ErrNoChecks is returned by VerifyKeyring for a keyring holding none of
// the versions the database has key checks for.
var ErrNoChecks = errors.New("the keyring holds none of the database's master key versions")

// VerifyKeyring checks kr against the stored key checks (by master key
// version): every version both know must open its check, and when there
// are checks kr must hold at least one of their versions.
func VerifyKeyring(kr *secret.Keyring, checks map[uint32][]byte) error {
	matched := 0
	for v, ct := range checks {
		if !kr.Has(v) {
			continue
		}
		if err := kr.VerifyKeyCheck(v, ct); err != nil {
			return &VersionError{Version: v, Err: err}
		}
		matched++
	}
	if len(checks) > 0 && matched == 0 {
		return ErrNoChecks
	}
	return nil
}

// VersionError is a master key version that does not open its key check.
type VersionError struct {
	Version uint32
	Err     error
}

func (e *VersionError) Error() string {
	return "master key version " + strconv.FormatUint(uint64(e.Version), 10) + ": " + e.Err.Error()
}

func (e *VersionError) Unwrap() error { return e.Err }

// NewDataKeys makes a new data key version for every tenant in tx with
// make (a store's newDataKey, which wraps it with the current master key),
// for a master key rotation: what is sealed from then on, the master key
// the rotation retires does not open, even with a copy of the data keys
// from before (an old backup, a copy of the database's files). It returns
// how many were made.
func NewDataKeys(ctx context.Context, tx *sql.Tx, make func(ctx context.Context, tx *sql.Tx, tenant bulwark.TenantID, v uint32) error) (int, error) {
	type row struct {
		tenant bulwark.TenantID
		v      uint32
	}
	var all []row
	rows, err := tx.QueryContext(ctx, `SELECT tenant_id, MAX(version) FROM data_keys GROUP BY tenant_id`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.tenant, &r.v); err != nil {
			rows.Close()
			return 0, err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range all {
		if r.v == math.MaxUint32 {
			return 0, bulwark.Errorf(bulwark.Invalid, "sealing.NewDataKeys", "tenant %s has used every data key version", r.tenant)
		}
		if err := make(ctx, tx, r.tenant, r.v+1); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}
