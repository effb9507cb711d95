package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// PasswordParams are the argon2id costs of a password hash.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultPasswordParams are OWASP's argon2id parameters: 19 MiB, 2 passes,
// 1 thread.
var DefaultPasswordParams = PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1}

// Lengths of a new password, in characters (NIST SP 800-63B: at least
// 8, we ask 12; at most 64 or more, we allow 128).
const (
	MinPasswordLen = 12
	MaxPasswordLen = 128
)

// maxLoginPasswordBytes bounds what login reads: more than a new password
// may hold, so that users whose passwords were set (or imported) under
// older rules can still log in.
const maxLoginPasswordBytes = 1024

const (
	saltLen = 16
	hashLen = 32
)

// CheckPassword returns an Invalid error for a new password that is too
// short (under MinPasswordLen characters) or too long (over
// MaxPasswordLen), not text, in the embedded list of common and breached
// passwords, or too easy to guess (passwordBits under minPasswordBits:
// repeats, sequences, keyboard walks, common words, the user's own email).
// userWords are the user's email and other names to count as known to an
// attacker. There are no composition rules (NIST SP 800-63B): length and
// unpredictability are what count.
func CheckPassword(pw string, userWords ...string) error {
	const op = "server.CheckPassword"
	switch {
	case !utf8.ValidString(pw):
		return bulwark.Errorf(bulwark.Invalid, op, "a password must be valid UTF-8 text")
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return bulwark.Errorf(bulwark.Invalid, op, "a password must be at least %d characters", MinPasswordLen)
	case utf8.RuneCountInString(pw) > MaxPasswordLen:
		return bulwark.Errorf(bulwark.Invalid, op, "a password must be at most %d characters", MaxPasswordLen)
	}
	low := strings.ToLower(pw)
	var words []string
	for _, w := range userWords {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		words = append(words, w)
		if local, domain, ok := strings.Cut(w, "@"); ok {
			words = append(words, local, domain)
			if name, _, ok := strings.Cut(domain, "."); ok {
				words = append(words, name)
			}
		}
	}
	for _, w := range words {
		if low == w || strings.Trim(low, "0123456789!?.-_ ") == w {
			return bulwark.Errorf(bulwark.Invalid, op, "a password must not be your email or your name")
		}
	}
	if commonPasswordRank(low) > 0 || commonPasswordRank(strings.Join(strings.Fields(low), "")) > 0 {
		return bulwark.Errorf(bulwark.Invalid, op, "this password is in a list of common or breached passwords: choose another")
	}
	if passwordBits(pw, words) < minPasswordBits {
		return bulwark.Errorf(bulwark.Invalid, op, "this password is too easy to guess (repeats, sequences, keyboard rows, common words or your email): "+
			"a few unrelated words, or a password manager's, are better")
	}
	return nil
}

// HashPassword hashes pw with argon2id and a random salt and returns the
// PHC string: $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH (base64 without
// padding).
func HashPassword(pw string, p PasswordParams) (string, error) {
	if p.Memory < 8*uint32(max(p.Threads, 1)) || p.Time < 1 || p.Threads < 1 {
		return "", errors.New("server: argon2id parameters too small")
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	h := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, hashLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(h)), nil
}

// Limits on the parameters of a stored hash, so that an imported hash
// cannot make a login cost minutes or gigabytes.
const (
	maxArgonMemory  = 1 << 20 // KiB: 1 GiB
	maxArgonTime    = 20
	maxArgonThreads = 16
	minBcryptCost   = 10
)

// VerifyPassword reports whether pw matches hash, an argon2id PHC string
// or an imported bcrypt hash ($2a$, $2b$, $2y$), comparing in constant
// time. rehash is true when the password matched a hash that is weaker
// than p (bcrypt, or argon2id with smaller costs): the caller replaces it.
// A hash that cannot be read is an error.
func VerifyPassword(hash, pw string, p PasswordParams) (ok, rehash bool, err error) {
	if strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$") {
		if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost < bcrypt.MinCost {
			return false, false, errors.New("not a bcrypt hash")
		}
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, false, nil
		}
		if err != nil {
			return false, false, err
		}
		return true, true, nil
	}
	hp, salt, want, err := parseArgon2id(hash)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, hp.Time, hp.Memory, hp.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	weaker := hp.Memory < p.Memory || hp.Time < p.Time || len(want) < hashLen
	return true, weaker, nil
}

// ValidPasswordHash reports whether hash is a hash VerifyPassword reads:
// what an import of existing users may bring.
func ValidPasswordHash(hash string) bool {
	if strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$") {
		cost, err := bcrypt.Cost([]byte(hash))
		return err == nil && cost >= minBcryptCost && len(hash) == 60
	}
	_, _, _, err := parseArgon2id(hash)
	return err == nil
}

func parseArgon2id(hash string) (p PasswordParams, salt, key []byte, err error) {
	bad := errors.New("not an argon2id PHC string")
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, bad
	}
	var m, t, th uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || n != 3 ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", m, t, th) {
		return p, nil, nil, bad
	}
	if m < 8 || m > maxArgonMemory || t < 1 || t > maxArgonTime || th < 1 || th > maxArgonThreads || m < 8*th {
		return p, nil, nil, errors.New("argon2id parameters out of range")
	}
	b64 := base64.RawStdEncoding.Strict()
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, bad
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, bad
	}
	return PasswordParams{Memory: m, Time: t, Threads: uint8(th)}, salt, key, nil
}
