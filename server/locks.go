package server

import (
	"context"
	"net/http"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// lockWait bounds how long a request waits for a lock of Config.Locks.
const lockWait = 30 * time.Second

// lock takes the named lock (Config.Locks: one holder on every node at
// once) for the request, and returns its release. When it cannot be had
// the error is Unavailable: the request must not go on.
func (s *Server) lock(r *http.Request, name string) (func(), error) {
	ctx, cancel := context.WithTimeout(r.Context(), lockWait)
	defer cancel()
	unlock, err := s.locks.Lock(ctx, name)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "server.lock", "the server is busy with another change of the same kind: try again shortly", err)
	}
	return unlock, nil
}

// Names of the locks.
func rolesLock(t bulwark.TenantID) string   { return "roles|" + string(t) }
func uploadsLock(t bulwark.TenantID) string { return "uploads|" + string(t) }

// loginLock names the lock of the login throttle key key (an email's:
// every attempt at the email takes it, see login).
func loginLock(key string) string { return "login|" + key }
