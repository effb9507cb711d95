package audit

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
)

// Each record a Log with a signing key appends carries a MAC: HMAC-SHA256,
// under a key derived from the signing key, of
//
//	"bulwark.audit.mac.v1\x00" len(chain) chain Hash
//
// (the length as 8 bytes big-endian). A checkpoint covers the records up
// to it, but whoever can write the log's storage can delete checkpoints
// and recompute the chain's hashes; without the signing key they cannot
// make the MAC of a record they changed or added, nor move a record to
// another chain. Verifying the MACs needs the signing key itself (a
// verification with the public key alone checks the checkpoints only).
//
// A record without a MAC is one written by a release before MACs. With a
// strict Key (a signing key made since, see Options.StrictMACs) every
// record must carry one; otherwise a record without one may come only
// before the chain's first record with one: a MAC removed from a record
// after it is found, but the MACs of a whole chain of such an older key
// removed at once are not.
const macTag = "bulwark.audit.mac.v1\x00"

// Key is what a verification checks with: the public key of the
// checkpoints' signatures and, when built from the signing key, the key of
// the records' MACs.
type Key struct {
	pub    ed25519.PublicKey
	mac    []byte
	strict bool
}

// PublicOnly is a Key that checks checkpoints only: what a verifier
// without the signing key (a backup's public key) can check.
func PublicOnly(pub ed25519.PublicKey) Key { return Key{pub: pub} }

// KeyOf is the Key of signing key k: it checks checkpoints and each
// record's MAC. strict requires a MAC on every record (see
// Options.StrictMACs).
func KeyOf(k ed25519.PrivateKey, strict bool) Key {
	if len(k) != ed25519.PrivateKeySize {
		return Key{}
	}
	return Key{pub: k.Public().(ed25519.PublicKey), mac: macKey(k), strict: strict}
}

// Public is the public key that checks the checkpoints.
func (k Key) Public() ed25519.PublicKey { return k.pub }

// ChecksMACs reports whether k checks the records' MACs.
func (k Key) ChecksMACs() bool { return k.mac != nil }

// macKey derives the key of the records' MACs from signing key k (its
// seed, with HKDF-SHA256): one secret to keep, and the MAC key is not the
// signing key.
func macKey(k ed25519.PrivateKey) []byte {
	key, err := hkdf.Key(sha256.New, k.Seed(), nil, "bulwark.audit.record-mac.v1", sha256.Size)
	if err != nil {
		panic("audit: hkdf: " + err.Error()) // only for a length HKDF cannot give
	}
	return key
}

// recordMAC is the MAC of the record whose hash is h in chain.
func recordMAC(key []byte, chain string, h Hash) Hash {
	m := hmac.New(sha256.New, key)
	m.Write(appendString([]byte(macTag), chain))
	m.Write(h[:])
	var out Hash
	m.Sum(out[:0])
	return out
}
