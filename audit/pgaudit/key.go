package pgaudit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/secret"
)

// keyAD binds the sealed signing key to its place.
// A function: a package-level value would be built by the package's init.
func keyAD() []byte { return secret.AD("", "audit.signing_key", "ed25519") }

// msgWrongKey is what a user sees when the master key does not open the
// signing key.
const msgWrongKey = "the master key does not open the audit signing key kept in PostgreSQL: was BULWARK_MASTER_KEY changed?"

// DB is a connection to PostgreSQL: a *pgxpool.Pool, a *pgx.Conn or a
// pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// SigningKey returns the key every node signs checkpoints with, creating
// it (and the tables) the first time: of nodes that start together, one
// stores its new key and the others load it. It makes none while
// checkpoints exist (Conflict: the key that signed them was removed). The key is kept sealed with
// keys' current master key; a key sealed with an older version is sealed
// again with the current one. Errors are *bulwark.Error: Invalid when keys
// cannot open the stored key, Unavailable when the database cannot be
// used.
func SigningKey(ctx context.Context, pool *pgxpool.Pool, keys *secret.Keyring) (key ed25519.PrivateKey, strict bool, err error) {
	const op = "pgaudit.SigningKey"
	if err := ensureSchema(ctx, pool); err != nil {
		return nil, false, err
	}
	key, strict, version, err := loadKey(ctx, pool, keys)
	if errors.Is(err, pgx.ErrNoRows) {
		_, fresh, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, false, bulwark.E(bulwark.Internal, op, "cannot make the audit signing key", gerr)
		}
		sealed, v, serr := keys.Wrap(keyAD(), append(fresh.Seed(), macsEvery))
		if serr != nil {
			return nil, false, bulwark.E(bulwark.Internal, op, "cannot seal the audit signing key", serr)
		}
		// One node's insert wins; every node then loads the same key. No
		// key is made while checkpoints exist: the key that signed them
		// was removed, and a new one would let whoever removed it pass
		// off a rewritten history.
		_, err = pool.Exec(ctx, `INSERT INTO audit_signing_key (id, public, sealed, master_version)
			SELECT 1, $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM audit_checkpoints)
			ON CONFLICT (id) DO NOTHING`, []byte(fresh.Public().(ed25519.PublicKey)), sealed, int64(v))
		if err == nil {
			key, strict, version, err = loadKey(ctx, pool, keys)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, bulwark.E(bulwark.Conflict, op, "the audit signing key is gone from PostgreSQL, but checkpoints signed with it remain: restore the audit_signing_key table from a backup", err)
		}
	}
	if err != nil {
		return nil, false, keyError(op, err)
	}
	if version != keys.Current() {
		if err := RewrapSigningKey(ctx, pool, keys); err != nil {
			return nil, false, err
		}
	}
	return key, strict, nil
}

// VerifyKey returns the key that checks the checkpoints and the records'
// MACs, for `bulwark audit verify`: the stored key, which must open with
// keys (so that nobody who can write the database, but lacks the master
// key, can have another key's signatures accepted). It is NotFound when
// no key has been made.
func VerifyKey(ctx context.Context, db DB, keys *secret.Keyring) (audit.Key, error) {
	key, strict, _, err := loadKey(ctx, db, keys)
	if err != nil {
		return audit.Key{}, keyError("pgaudit.VerifyKey", err)
	}
	return audit.KeyOf(key, strict), nil
}

// StoredPublicKey returns the public key stored beside the sealed signing
// key, without the master key. Whoever can write the database can replace
// it: trust it only once compared with a copy kept elsewhere.
func StoredPublicKey(ctx context.Context, db DB) (ed25519.PublicKey, error) {
	var pub []byte
	err := db.QueryRow(ctx, `SELECT public FROM audit_signing_key WHERE id = 1`).Scan(&pub)
	if err != nil {
		return nil, keyError("pgaudit.StoredPublicKey", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, bulwark.Errorf(bulwark.Invalid, "pgaudit.StoredPublicKey", "the stored audit public key is not an Ed25519 key")
	}
	return pub, nil
}

// RewrapSigningKey seals the signing key again with keys' current master
// version, if it is sealed with another. Call it, in the same transaction,
// when the master key is rotated, before an old version is retired: the
// column master_version says which version the key needs.
func RewrapSigningKey(ctx context.Context, db DB, keys *secret.Keyring) error {
	const op = "pgaudit.RewrapSigningKey"
	key, strict, version, err := loadKey(ctx, db, keys)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return keyError(op, err)
	}
	if version == keys.Current() {
		return nil
	}
	payload := key.Seed()
	if strict {
		payload = append(payload, macsEvery)
	}
	sealed, v, err := keys.Wrap(keyAD(), payload)
	if err != nil {
		return bulwark.E(bulwark.Internal, op, "cannot seal the audit signing key", err)
	}
	_, err = db.Exec(ctx, `UPDATE audit_signing_key SET sealed = $1, master_version = $2 WHERE id = 1 AND public = $3`,
		sealed, int64(v), []byte(key.Public().(ed25519.PublicKey)))
	if err != nil {
		return keyError(op, err)
	}
	return nil
}

// errKeyMismatch: the stored public key is not the sealed key's.
var errKeyMismatch = errors.New("the stored public key is not the sealed signing key's")

// macsEvery ends the sealed seed of a key made by a release that gave
// every record a MAC: its chains' records must all have one
// (audit.Options.StrictMACs). It is sealed with the seed, so whoever can
// write the database cannot take it off without the master key.
const macsEvery = 1

// loadKey reads and opens the stored key; pgx.ErrNoRows when there is
// none. strict: the key was made with every record having a MAC.
func loadKey(ctx context.Context, db DB, keys *secret.Keyring) (key ed25519.PrivateKey, strict bool, version uint32, err error) {
	if keys == nil {
		return nil, false, 0, errNoMaster
	}
	var pub, sealed []byte
	err = db.QueryRow(ctx, `SELECT public, sealed FROM audit_signing_key WHERE id = 1`).Scan(&pub, &sealed)
	if err != nil {
		return nil, false, 0, err
	}
	version, err = secret.KeyVersion(sealed)
	if err != nil {
		return nil, false, 0, fmt.Errorf("%w: %w", errSealed, err)
	}
	seed, err := keys.Unwrap(keyAD(), sealed)
	if err != nil {
		return nil, false, 0, fmt.Errorf("%w: %w", errSealed, err)
	}
	switch {
	case len(seed) == ed25519.SeedSize+1 && seed[ed25519.SeedSize] == macsEvery:
		seed, strict = seed[:ed25519.SeedSize], true
	case len(seed) != ed25519.SeedSize:
		return nil, false, 0, fmt.Errorf("%w: %d bytes", errSealed, len(seed))
	}
	key = ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(pub, key.Public().(ed25519.PublicKey)) {
		return nil, false, 0, errKeyMismatch
	}
	return key, strict, version, nil
}

// errNoMaster: no keyring was given.
var errNoMaster = errors.New("no master key")

// errSealed: the sealed key does not open.
var errSealed = errors.New("the sealed audit signing key does not open")

// keyError classifies an error of loadKey or the database.
func keyError(op string, err error) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return bulwark.E(bulwark.NotFound, op, "there is no audit signing key in PostgreSQL yet", err)
	case errors.Is(err, errNoMaster):
		return bulwark.E(bulwark.Invalid, op, "the audit signing key kept in PostgreSQL needs the master key", err)
	case errors.Is(err, errSealed):
		return bulwark.E(bulwark.Invalid, op, msgWrongKey, err)
	case errors.Is(err, errKeyMismatch):
		return bulwark.E(bulwark.Invalid, op, "the audit signing key kept in PostgreSQL was changed: its public key is not the sealed key's", err)
	}
	return bulwark.E(bulwark.Unavailable, op, "cannot read the audit signing key from PostgreSQL", err)
}
