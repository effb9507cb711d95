package server

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// A login checks the password against a stored hash, whose cost is that
// of the parameters it was made with: the current ones, older ones
// (argon2id with smaller costs, before a rehash at the user's next
// login), or an imported bcrypt hash's. An unknown email is checked
// against a dummy hash instead. Were that dummy of the current
// parameters only, a login at a user whose hash is older would take
// another time than one at an email no one has, and tell that the user
// exists.
//
// So every login does the same work: for each candidate user (one, for
// an unknown email) one check of each hash profile (algorithm and costs)
// the server has met, the user's own hash for its profile and a dummy
// hash for each other. A profile is met when a login reads a hash of it;
// the current one is known from the start. The profiles are few (an
// installation changes its parameters rarely, and the logins rehash old
// hashes away), and bounded by maxHashProfiles.
//
// What is left: the first login at a user of a profile this process had
// not met does more work than the logins before it did; from then on all
// do the same. And each login costs one check per profile met.

// maxHashProfiles bounds how many hash profiles a login checks. A hash of
// a profile met beyond it is checked on its own (its users' logins take
// another time), and logged.
const maxHashProfiles = 4

// maxDummyBcryptCost bounds the bcrypt cost of a dummy hash made for a
// profile met: above it, the profile is left out, as beyond
// maxHashProfiles.
const maxDummyBcryptCost = 14

// dummyPassword is what the dummy hashes are made of.
const dummyPassword = "not a password: the hash unknown users are checked against"

// hashProfile names the work of checking a password against hash: its
// algorithm and costs. It is "" for a hash that cannot be read.
func hashProfile(hash string) string {
	if isBcrypt(hash) {
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return ""
		}
		return fmt.Sprintf("bcrypt cost=%d", cost)
	}
	p, _, _, err := parseArgon2id(hash)
	if err != nil {
		return ""
	}
	return argon2Profile(p)
}

func argon2Profile(p PasswordParams) string {
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// dummyHash is a hash of dummyPassword of one profile.
type dummyHash struct {
	profile, hash string
}

// loginWork holds a dummy hash of each profile met, the current
// parameters' first. It is safe for concurrent use.
type loginWork struct {
	mu      sync.Mutex
	dummies []dummyHash
	refused map[string]bool // profiles met beyond the bounds
}

// newLoginWork returns a loginWork that knows the profile of p.
func newLoginWork(p PasswordParams) (*loginWork, error) {
	h, err := HashPassword(dummyPassword, p)
	if err != nil {
		return nil, err
	}
	return &loginWork{dummies: []dummyHash{{argon2Profile(p), h}}, refused: map[string]bool{}}, nil
}

// meet learns the profiles of hashes and returns the dummy hashes of
// every profile known, with the profiles it could not add (to log).
// A dummy is made outside the lock: its hash costs what a login does.
func (w *loginWork) meet(hashes []string) (dummies []dummyHash, refused []string) {
	for _, h := range hashes {
		p := hashProfile(h)
		if p == "" || w.known(p) {
			continue
		}
		d, ok := makeDummy(h)
		w.mu.Lock()
		switch {
		case w.has(p):
		case !ok || len(w.dummies) >= maxHashProfiles:
			if !w.refused[p] && len(w.refused) < maxHashProfiles {
				w.refused[p] = true
				refused = append(refused, p)
			}
		default:
			w.dummies = append(w.dummies, dummyHash{p, d})
		}
		w.mu.Unlock()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]dummyHash(nil), w.dummies...), refused
}

// known reports whether profile p has a dummy, or was refused one.
func (w *loginWork) known(p string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.has(p) || w.refused[p]
}

// has reports whether profile p has a dummy; w.mu is held.
func (w *loginWork) has(p string) bool {
	for _, d := range w.dummies {
		if d.profile == p {
			return true
		}
	}
	return false
}

// makeDummy returns a hash of dummyPassword with the algorithm and costs
// of hash; false when there is none to make.
func makeDummy(hash string) (string, bool) {
	if isBcrypt(hash) {
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil || cost > maxDummyBcryptCost {
			return "", false
		}
		d, err := bcrypt.GenerateFromPassword([]byte(dummyPassword), cost)
		return string(d), err == nil
	}
	p, _, _, err := parseArgon2id(hash)
	if err != nil {
		return "", false
	}
	d, err := HashPassword(dummyPassword, p)
	return d, err == nil
}
