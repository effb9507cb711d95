package bulwark

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what a person or an API key may do in a tenant. Roles are
// ordered: each one may do everything the ones below it may.
//
//	viewer   read only
//	member   tasks: start, steer, approve, cancel
//	admin    keys, users, secrets, settings
//	owner    everything of the tenant
//
// RoleOperator is outside that order: it belongs to API keys of no tenant
// and allows only the operator's routes (listing and creating tenants).
type Role string

const (
	RoleViewer   Role = "viewer"
	RoleMember   Role = "member"
	RoleAdmin    Role = "admin"
	RoleOwner    Role = "owner"
	RoleOperator Role = "operator"
)

// TenantRoles are the roles a tenant's users and keys may have, lowest
// first.
var TenantRoles = []Role{RoleViewer, RoleMember, RoleAdmin, RoleOwner}

// rank orders the tenant roles; 0 is not a tenant role.
func (r Role) rank() int {
	for i, t := range TenantRoles {
		if r == t {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether r is one of the tenant roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r is a tenant role that includes min. The
// operator role includes no tenant role, and no tenant role includes it.
func (r Role) AtLeast(min Role) bool {
	if min == RoleOperator || r == RoleOperator {
		return r == min
	}
	return r.rank() > 0 && r.rank() >= min.rank()
}

// ParseRole reads a tenant role, or returns an Invalid error.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", Errorf(Invalid, "bulwark.ParseRole", "unknown role %q: want viewer, member, admin or owner", s)
	}
	return r, nil
}

// User is a person who logs in to a tenant with an email and a password.
// Emails are unique in a tenant, compared in lower case; one address may
// have a user in several tenants, each with its own password (login then
// names the tenant).
type User struct {
	ID       string    `json:"id"` // "u_..."
	TenantID TenantID  `json:"tenant_id"`
	Email    string    `json:"email"`
	Role     Role      `json:"role"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// TwoFactor reports whether the user's second factor is on. The
	// stores do not set it (see TwoFactorStore.TwoFactorUsers); the
	// server does where it shows users.
	TwoFactor bool `json:"two_factor"`
}

// NormalizeEmail returns email trimmed and in lower case, or an Invalid
// error when it does not look like an address (one @, something on each
// side, no spaces of any script (U+00A0, U+3000: an address that looks
// like another), control characters or invisible format characters (see
// IsInvisibleFormat), at most 254 bytes).
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(e) > 254 ||
		!utf8.ValidString(e) || strings.ContainsFunc(e, func(r rune) bool { return r <= ' ' || r == 0x7f || unicode.IsSpace(r) || IsInvisibleFormat(r) }) {
		return "", Errorf(Invalid, "bulwark.NormalizeEmail", "not an email address")
	}
	return e, nil
}

// APIKey describes an API key. The key itself ("bwk_" + random) is shown
// once, when it is made, and stored only as its Prefix (for lookup) and a
// hash of the whole key.
type APIKey struct {
	ID        string   `json:"id"` // "k_..."
	TenantID  TenantID `json:"tenant_id,omitempty"`
	Name      string   `json:"name"`
	Prefix    string   `json:"prefix"` // the first characters of the key, to recognise it
	Role      Role     `json:"role"`
	Scopes    []string `json:"scopes,omitempty"`
	CreatedBy string   `json:"created_by"`
	// CreatorUser is the user whose rights the key carries: the user who
	// made it, or who made the key that made it; "" for keys the operator
	// made. The key's effective role is the lower of Role and that user's
	// current role, and the key goes when the user does.
	CreatorUser string `json:"creator_user,omitempty"`
	// CreatorKey is the key that made this one, if one did: revoking a
	// key revokes the keys it made, and theirs.
	CreatorKey string    `json:"creator_key,omitempty"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"`   // zero: never
	LastUsed   time.Time `json:"last_used,omitzero"` // updated at most once a minute
}

// Expired reports whether the key has expired at now.
func (k APIKey) Expired(now time.Time) bool { return !k.Expires.IsZero() && !now.Before(k.Expires) }

// InEffect returns k with the expiry it has in effect among keys (its
// tenant's): the earliest of its own and those of the keys it was made
// from (CreatorKey, and theirs). A key made by a key expires no later
// than that key, and stays so when that key's expiry is brought forward
// later (a rotation): the keys it made end with it. ok is false when a
// key of the chain is not among keys (revoked: k should have gone with
// it), or the chain does not end.
func (k APIKey) InEffect(keys []APIKey) (_ APIKey, ok bool) {
	if k.CreatorKey == "" {
		return k, true
	}
	byID := make(map[string]APIKey, len(keys))
	for _, c := range keys {
		byID[c.ID] = c
	}
	c := k
	for range len(keys) { // a chain has no cycle; the bound is a guard
		if c.CreatorKey == "" {
			return k, true
		}
		if c, ok = byID[c.CreatorKey]; !ok {
			return k, false
		}
		if !c.Expires.IsZero() && (k.Expires.IsZero() || c.Expires.Before(k.Expires)) {
			k.Expires = c.Expires
		}
	}
	return k, false
}

// Session is a logged-in browser. The session's token is stored only as
// its SHA-256 hash; ID names the session in lists and logs.
type Session struct {
	ID       string    `json:"id"` // "s_..."
	TenantID TenantID  `json:"tenant_id"`
	UserID   string    `json:"user_id"`
	Created  time.Time `json:"created"`   // absolute expiry counts from here
	LastSeen time.Time `json:"last_seen"` // idle expiry counts from here; updated at most once a minute
}

// Settings are a tenant's configuration: the model its tasks use, the
// policy they run under, their budgets and the tenant's quotas. A zero
// field means the installation's default. The model's API key is not here:
// it is the tenant secret named ModelAPIKeySecret.
type Settings struct {
	Model           string            `json:"model,omitempty"`            // provider spec, e.g. "openai:gpt-4o"
	Policy          Policy            `json:"policy"`                     // tool rules
	AllowedCommands []string          `json:"allowed_commands,omitempty"` // executables the sandbox may run
	AllowedDomains  []string          `json:"allowed_domains,omitempty"`  // egress allowlist
	Limits          Limits            `json:"limits"`                     // per-task budgets
	MaxConcurrent   int               `json:"max_concurrent_tasks,omitempty"`
	RateLimit       RateLimitSettings `json:"rate_limit"`
	// Taint is what taints the tenant's tasks (see TaintMode); "" is the
	// operator's mode. A task runs in the stricter of the two: a tenant
	// can make taint stricter than the operator's BULWARK_TAINT, never
	// weaker.
	Taint TaintMode `json:"taint,omitempty"`
	// MCP is the tenant's MCP servers, as the document other MCP clients
	// use: {"mcpServers": {"NAME": {...}}} (see package mcpclient). Values
	// of env and headers may be {{secret:NAME}}; the document holds the
	// placeholders, never the values.
	MCP json.RawMessage `json:"mcp,omitempty"`
	// RequireTwoFactor makes every user of the tenant log in with a
	// second factor: a user without one may, once logged in, only enrol
	// one (and read who they are, and log out).
	RequireTwoFactor bool `json:"require_two_factor,omitempty"`
	// KeyMaxAgeDays flags API keys older than this many days (in the UI,
	// GET /api/v1/keys and bulwark doctor) so that they get rotated; 0:
	// none is flagged. Keys keep working: expiry is ExpiresIn's job.
	KeyMaxAgeDays int       `json:"key_max_age_days,omitempty"`
	Updated       time.Time `json:"updated,omitzero"`
}

// RateLimitSettings are a tenant's request rate limits. Zero fields mean
// the server's defaults.
type RateLimitSettings struct {
	PerKey    float64 `json:"per_key_rps,omitempty"`    // requests a second, for each key or session
	PerTenant float64 `json:"per_tenant_rps,omitempty"` // requests a second, for the whole tenant
	Burst     int     `json:"burst,omitempty"`          // requests allowed at once above the rate
}

// ModelAPIKeySecret is the name of the tenant secret that holds the
// model provider's API key.
const ModelAPIKeySecret = "MODEL_API_KEY"

// The identity stores. Lookups that authentication needs before it knows
// the tenant (UserByEmail, APIKeyByPrefix, SessionByTokenHash) are not
// scoped by a tenant; every other method is, and treats a record of
// another tenant as NotFound.

// UserStore keeps the people of each tenant.
type UserStore interface {
	// CreateUser stores u (its ID, Created and Updated are set) with the
	// password hash (a PHC string); an email the tenant already has is
	// Conflict (whether another tenant has it is not looked at), a bad
	// email or role Invalid.
	CreateUser(ctx context.Context, tenant TenantID, u User, passwordHash string) (User, error)
	// User returns a user of tenant, or NotFound.
	User(ctx context.Context, tenant TenantID, id string) (User, error)
	// ListUsers returns the tenant's users, oldest first.
	ListUsers(ctx context.Context, tenant TenantID) ([]User, error)
	// SetUserRole changes a user's role and returns the user as stored.
	SetUserRole(ctx context.Context, tenant TenantID, id string, role Role) (User, error)
	// DeleteUser deletes a user of tenant with the user's sessions and
	// the API keys that carry the user's rights (CreatorUser), and returns
	// how many of each went; an unknown id is NotFound.
	DeleteUser(ctx context.Context, tenant TenantID, id string) (sessions, keys int, err error)
	// SetPasswordHash replaces a user's password hash (a rehash at login,
	// or a new password).
	SetPasswordHash(ctx context.Context, tenant TenantID, id, passwordHash string) error
	// UserByEmail finds the user of any tenant with email
	// (case-insensitive) and returns it with its password hash: NotFound
	// when no tenant has it, Conflict when several do (then login must
	// name the tenant: TenantUserByEmail). For login only.
	UserByEmail(ctx context.Context, email string) (User, string, error)
	// UsersByEmail returns the users of every tenant with email
	// (case-insensitive), at most limit of them, oldest first, each with
	// its password hash (hashes[i] is users[i]'s). No user is not an
	// error. For a login that names no tenant: it tries the password
	// against each, so that whether another tenant has the address never
	// changes its answer.
	UsersByEmail(ctx context.Context, email string, limit int) (users []User, hashes []string, err error)
	// TenantUserByEmail finds tenant's user with email and returns it with
	// its password hash, or NotFound. For login only.
	TenantUserByEmail(ctx context.Context, tenant TenantID, email string) (User, string, error)
}

// AuthVersioner is implemented by stores whose authentication records
// may be cached by the servers that read them: API keys, users (their
// roles, their existence), tenants' settings, and tenants' secrets (which
// servers mask what they show with). Both stores of Bulwark implement it;
// a store that does not is read at every request.
type AuthVersioner interface {
	// AuthVersion returns the version of those records. Every change of
	// them (revoking a key, changing or deleting a user, putting a
	// tenant's settings, putting or deleting a secret), by this process
	// or by any other on the same
	// database, changes it, and is visible to every reader before the
	// version it leads to is returned. stable is false while a change is
	// under way (SQLite: between its start and its commit): what is read
	// then must not be kept. A reader that reads the version first and
	// the records after may keep them for as long as AuthVersion returns
	// the same version, stable. Creating a key or a user need not change
	// it: a cache holds only records it has read. Errors are Unavailable.
	AuthVersion(ctx context.Context) (version uint64, stable bool, err error)
}

// APIKeyStore keeps API keys. A revoked key is deleted: it is NotFound at
// once.
type APIKeyStore interface {
	// CreateAPIKey stores k (its ID and Created are set) with hash, the
	// SHA-256 of the whole key. k.Role must be a tenant role; a
	// CreatorUser or CreatorKey that is not of tenant is NotFound.
	CreateAPIKey(ctx context.Context, tenant TenantID, k APIKey, hash []byte) (APIKey, error)
	// CreateOperatorKey stores an operator key: no tenant, RoleOperator.
	CreateOperatorKey(ctx context.Context, k APIKey, hash []byte) (APIKey, error)
	// APIKeyByPrefix returns the key with prefix, of any tenant or none,
	// with its hash, or NotFound. For authentication only.
	APIKeyByPrefix(ctx context.Context, prefix string) (APIKey, []byte, error)
	// ListAPIKeys returns the tenant's keys, oldest first.
	ListAPIKeys(ctx context.Context, tenant TenantID) ([]APIKey, error)
	// DeleteAPIKey revokes a key of tenant, and the keys it made (see
	// CreatorKey), and theirs; an unknown id is NotFound.
	DeleteAPIKey(ctx context.Context, tenant TenantID, id string) error
	// TouchAPIKey records that the key (of tenant, "" for an operator key)
	// was used at t.
	TouchAPIKey(ctx context.Context, tenant TenantID, id string, t time.Time) error
	// ExpireAPIKey makes a key of tenant expire at the latest at at (a key
	// that expires sooner keeps its expiry) and returns the key as stored;
	// an unknown id is NotFound. Rotation uses it for the old key's grace
	// period.
	ExpireAPIKey(ctx context.Context, tenant TenantID, id string, at time.Time) (APIKey, error)
}

// SessionStore keeps browser sessions.
type SessionStore interface {
	// CreateSession stores s (its ID is set) under the hash of its token.
	CreateSession(ctx context.Context, tenant TenantID, s Session, tokenHash []byte) (Session, error)
	// SessionByTokenHash returns the session whose token hashes to h, or
	// NotFound. For authentication only.
	SessionByTokenHash(ctx context.Context, h []byte) (Session, error)
	// TouchSession sets a session's LastSeen.
	TouchSession(ctx context.Context, tenant TenantID, id string, t time.Time) error
	// DeleteSession ends one session; an unknown id is NotFound.
	DeleteSession(ctx context.Context, tenant TenantID, id string) error
	// DeleteUserSessions ends every session of a user and returns how
	// many there were.
	DeleteUserSessions(ctx context.Context, tenant TenantID, userID string) (int, error)
}

// SettingsStore keeps each tenant's Settings, sealed with its data key.
type SettingsStore interface {
	// Settings returns the tenant's settings: the zero Settings when none
	// were stored.
	Settings(ctx context.Context, tenant TenantID) (Settings, error)
	// PutSettings replaces the tenant's settings; Updated is set.
	PutSettings(ctx context.Context, tenant TenantID, s Settings) (Settings, error)
}

// TOTP is a user's second factor: the secret of a time-based one-time
// password (RFC 6238) shared with the user's authenticator app.
type TOTP struct {
	UserID string
	// Secret is the shared key; sealed at rest with the tenant's data key.
	Secret []byte
	// Enabled is false while the factor is pending: made, but not yet
	// confirmed with a code (EnableTOTP). A pending factor is not asked
	// for at login.
	Enabled bool
	// LastStep is the last time step whose code was accepted: a code of
	// that step or an earlier one is refused, so that each code works
	// once, on every node.
	LastStep int64
	// RecoveryLeft is how many recovery codes are left unused.
	RecoveryLeft int
	Created      time.Time
}

// TwoFactorStore keeps users' second factors and their recovery codes.
// Recovery codes are stored only as hashes (the caller hashes them: they
// are long random strings, so a fast hash is enough).
type TwoFactorStore interface {
	// PutPendingTOTP stores secret as the user's pending second factor,
	// replacing a pending one. A user whose second factor is on is
	// Conflict; an unknown user NotFound.
	PutPendingTOTP(ctx context.Context, tenant TenantID, userID string, secret []byte) error
	// TOTP returns the user's second factor, pending or on, or NotFound.
	TOTP(ctx context.Context, tenant TenantID, userID string) (TOTP, error)
	// EnableTOTP turns the user's pending second factor on, with step as
	// its last used step, and stores the hashes of its recovery codes
	// (replacing any). Without a pending factor: Conflict.
	EnableTOTP(ctx context.Context, tenant TenantID, userID string, step int64, recoveryHashes [][]byte) error
	// UseTOTPStep accepts the code of step for a user whose second factor
	// is on: true when step is later than the last step accepted (which
	// becomes step), false when it is not, a replay. It is one atomic
	// statement: of two nodes that race with the same code, one wins.
	UseTOTPStep(ctx context.Context, tenant TenantID, userID string, step int64) (bool, error)
	// UseRecoveryCode consumes the user's recovery code with hash: true
	// the first time, false after, and for a hash never stored or a user
	// whose second factor is not on.
	UseRecoveryCode(ctx context.Context, tenant TenantID, userID string, hash []byte) (bool, error)
	// DeleteTOTP removes the user's second factor, pending or on, with its
	// recovery codes; NotFound when there is none.
	DeleteTOTP(ctx context.Context, tenant TenantID, userID string) error
	// TwoFactorUsers returns the ids of the tenant's users whose second
	// factor is on, sorted.
	TwoFactorUsers(ctx context.Context, tenant TenantID) ([]string, error)
}
