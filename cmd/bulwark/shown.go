package main

import (
	"context"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// shownMask masks a tenant's secrets, as they are now, out of what the
// terminal shows of its stored tasks and schedules. What a task stored was
// masked as it was stored, with the secrets of that moment; a value
// registered afterwards (a key noticed in a task's output, then added
// with 'bulwark secrets set') stays readable in what was stored before,
// unless it is masked again as it is shown, as the server's routes do
// (server/shown.go).
type shownMask struct {
	db     store
	tenant bulwark.TenantID
	red    *secret.Redactor
	seen   uint64 // the store's version red was read at
	stable bool   // seen was stable: red may be kept while it holds
}

// current is the tenant's redactor, read again when the store's version
// moved since it was read (a secret set or deleted in another process).
// An error means the secrets cannot be read: show nothing.
func (m *shownMask) current(ctx context.Context) (*secret.Redactor, error) {
	var v uint64
	stable := false
	if av, ok := m.db.(bulwark.AuthVersioner); ok {
		var err error
		if v, stable, err = av.AuthVersion(ctx); err != nil {
			stable = false
		}
	}
	if m.red != nil && m.stable && stable && v == m.seen {
		return m.red, nil
	}
	vals, err := m.db.SecretValues(ctx, m.tenant)
	if err != nil {
		return nil, err
	}
	m.red, m.seen, m.stable = secret.RedactorOf(vals), v, stable
	return m.red, nil
}
