package bulwark

import (
	"time"
	"unicode/utf8"
)

// TenantID identifies a tenant: the unit of isolation of data, keys and
// quotas. The zero value means no tenant, and every method that touches
// tenant data refuses it with an Invalid error, so forgetting the tenant is
// an error rather than a query over everyone's data.
type TenantID string

// Check returns an Invalid error for the zero TenantID (or one no store
// could have made) and nil otherwise. Op names the caller, for the log.
func (t TenantID) Check(op string) error {
	if t == "" {
		return Errorf(Invalid, op, "a tenant is required")
	}
	if len(t) > 128 || !utf8.ValidString(string(t)) {
		return Errorf(Invalid, op, "the tenant id is not valid")
	}
	return nil
}

// Tenant is one organisation or team sharing a Bulwark installation.
type Tenant struct {
	ID      TenantID  `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// LocalTenantName is the name of the tenant the CLI works in (`bulwark run`,
// `bulwark secrets` without --tenant). Stores create it on first use.
const LocalTenantName = "local"
