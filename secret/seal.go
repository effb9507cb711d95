package secret

// This file is the envelope encryption's sealed-value format. A sealed value
// is
//
//	byte 0      format version (1)
//	bytes 1-4   version of the key that sealed it, big-endian
//	bytes 5-28  nonce (24 random bytes)
//	bytes 29-   XChaCha20-Poly1305 ciphertext and tag
//
// The header (bytes 0-4) and the associated data built by AD are
// authenticated with the plaintext, so a value opens only with its own key,
// under its own header, in the place (tenant, kind, record id) it was
// sealed for.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the size of master and data keys, in bytes.
const KeySize = chacha20poly1305.KeySize

const (
	sealFormat = 1
	headerSize = 1 + 4
	nonceSize  = chacha20poly1305.NonceSizeX
	// Overhead is how many bytes sealing adds to a plaintext.
	Overhead = headerSize + nonceSize + chacha20poly1305.Overhead
)

// Errors of Open and Unwrap; test them with errors.Is. Their texts hold no
// key material and no plaintext.
var (
	// ErrFormat: the value is not a sealed value this version understands.
	ErrFormat = errors.New("not a sealed value of a known format")
	// ErrOpen: the key, or the place the value was sealed for, is not the
	// one given (wrong key, or the value was changed or moved).
	ErrOpen = errors.New("the sealed value does not open with this key in this place")
	// ErrUnknownKey: the value names a key version that is not held.
	ErrUnknownKey = errors.New("the sealed value names a key version that is not held")
)

// NewKey returns KeySize random bytes from crypto/rand.
func NewKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k) // never fails (crypto/rand panics rather)
	return k
}

// AD builds the associated data that binds a sealed value to its place:
// the tenant, the kind of record ("secret", "task.input", "event", ...) and
// the record's id within the tenant. Each part is length-prefixed, so no
// two different places give the same bytes.
func AD(tenant, kind, id string) []byte {
	b := make([]byte, 0, 16+len(tenant)+len(kind)+len(id))
	b = append(b, "bulwark-ad-v1"...)
	for _, s := range [...]string{tenant, kind, id} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// Seal encrypts plaintext with key (KeySize bytes), recording keyVersion in
// the header, and binds it to ad.
func Seal(key []byte, keyVersion uint32, ad, plaintext []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := make([]byte, headerSize+nonceSize, Overhead+len(plaintext))
	out[0] = sealFormat
	binary.BigEndian.PutUint32(out[1:headerSize], keyVersion)
	rand.Read(out[headerSize:])
	return aead.Seal(out, out[headerSize:], plaintext, fullAD(out[:headerSize], ad)), nil
}

// KeyVersion returns the version of the key that sealed v, so the caller
// can pick the key to Open it with.
func KeyVersion(v []byte) (uint32, error) {
	if len(v) < Overhead || v[0] != sealFormat {
		return 0, ErrFormat
	}
	return binary.BigEndian.Uint32(v[1:headerSize]), nil
}

// Open decrypts v with key and ad. It returns ErrFormat or ErrOpen, never a
// partial plaintext.
func Open(key []byte, ad, v []byte) ([]byte, error) {
	if _, err := KeyVersion(v); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	nonce := v[headerSize : headerSize+nonceSize]
	pt, err := aead.Open(nil, nonce, v[headerSize+nonceSize:], fullAD(v[:headerSize], ad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

func fullAD(header, ad []byte) []byte {
	b := make([]byte, 0, len(header)+len(ad))
	return append(append(b, header...), ad...)
}
