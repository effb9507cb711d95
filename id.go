package bulwark

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns prefix followed by 16 random hex digits (64 bits from
// crypto/rand): ids that cannot be guessed or enumerated.
func NewID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
