package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/server"
)

// keyAgeCheck flags the API keys older than their tenant's
// key_max_age_days (a tenant setting; 0 flags none), naming at most a few
// of them, and says how to rotate them.
func keyAgeCheck(ctx context.Context, db bulwark.Store, now time.Time) check {
	const name = "API key age"
	tenants, err := db.ListTenants(ctx)
	if err != nil {
		return check{name, "FAIL", userMessage(err)}
	}
	var stale []string
	n, limited := 0, 0
	for _, t := range tenants {
		st, err := db.Settings(ctx, t.ID)
		if err != nil {
			return check{name, "FAIL", userMessage(err)}
		}
		if st.KeyMaxAgeDays == 0 {
			continue
		}
		limited++
		ks, err := db.ListAPIKeys(ctx, t.ID)
		if err != nil {
			return check{name, "FAIL", userMessage(err)}
		}
		for _, k := range ks {
			if k.Expired(now) || !server.StaleKey(k, st.KeyMaxAgeDays, now) {
				continue
			}
			n++
			if len(stale) < 5 {
				stale = append(stale, fmt.Sprintf("%s: %q (%s..., made %s, over %d days)", t.Name, k.Name, k.Prefix, k.Created.Format("2006-01-02"), st.KeyMaxAgeDays))
			}
		}
	}
	switch {
	case limited == 0:
		return check{name, "ok", "no tenant sets key_max_age_days: key ages are not checked"}
	case n == 0:
		return check{name, "ok", fmt.Sprintf("no key is older than its tenant's key_max_age_days (%d tenants set one)", limited)}
	}
	more := ""
	if n > len(stale) {
		more = fmt.Sprintf(" and %d more", n-len(stale))
	}
	what := fmt.Sprintf("%d keys are older than their tenant's key_max_age_days", n)
	if n == 1 {
		what = "1 key is older than its tenant's key_max_age_days"
	}
	return check{name, "warn", fmt.Sprintf("%s: %s%s; rotate them (POST /api/v1/keys/ID/rotate, or the API keys page)", what, strings.Join(stale, "; "), more)}
}
