// Package totp is time-based one-time passwords (RFC 6238) as
// authenticator apps make them: HOTP (RFC 4226) over HMAC-SHA-1 of the
// number of 30-second steps since the Unix epoch, six digits. Written
// here, on crypto/hmac, rather than taken from a module: it is forty
// lines, and the RFCs' test vectors check it.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"hash"
	"net/url"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

const (
	// Period is the length of a time step.
	Period = 30 * time.Second
	// Digits is the length of a code.
	Digits = 6
	// Skew is how many steps before and after the current one a code may
	// belong to: clocks drift, and people type slowly.
	Skew = 1
	// SecretLen is the length of a new secret in bytes: 160 bits, as RFC
	// 4226 recommends for HMAC-SHA-1.
	SecretLen = 20
)

// NewSecret returns a new random secret of SecretLen bytes.
func NewSecret() []byte {
	b := make([]byte, SecretLen)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// b32 is made on first use, not by the package's init, which every command
// runs.
var b32 = lazy.Value[*base32.Encoding]{New: func() *base32.Encoding { return base32.StdEncoding.WithPadding(base32.NoPadding) }}

// EncodeSecret writes a secret as authenticator apps take it: base32,
// upper case, no padding.
func EncodeSecret(secret []byte) string { return b32.Get().EncodeToString(secret) }

// DecodeSecret reads a secret written by EncodeSecret (in any case, with
// or without padding and spaces).
func DecodeSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.TrimRight(strings.ReplaceAll(s, " ", ""), "="))
	b, err := b32.Get().DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("totp: not a base32 secret")
	}
	return b, nil
}

// HOTP is RFC 4226's one-time password of key and counter: digits
// decimal digits (6 to 8) of the dynamically truncated HMAC made by h.
func HOTP(h func() hash.Hash, key []byte, counter uint64, digits int) string {
	mac := hmac.New(h, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	v %= mod
	out := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}

// Step is the time step t falls in (RFC 6238's T, with T0 = 0).
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code is the code of secret for step.
func Code(secret []byte, step int64) string {
	return HOTP(sha1.New, secret, uint64(step), Digits)
}

// Match reports whether code is secret's code for a step within Skew of
// now's, and which step: the caller refuses a step it already accepted
// (see bulwark.TwoFactorStore.UseTOTPStep), so that a code works once.
// Every step of the window is compared, in constant time.
func Match(secret []byte, code string, now time.Time) (step int64, ok bool) {
	if len(code) != Digits {
		return 0, false
	}
	cur := Step(now)
	for s := cur - Skew; s <= cur+Skew; s++ {
		if subtle.ConstantTimeCompare([]byte(Code(secret, s)), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// URL is the otpauth:// URL an authenticator app reads (from a QR code):
// the account under the issuer, with the secret and the parameters
// spelled out, though they are the apps' defaults.
func URL(issuer, account string, secret []byte) string {
	q := url.Values{}
	q.Set("secret", EncodeSecret(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", "6")
	q.Set("period", "30")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: q.Encode()}
	return u.String()
}
