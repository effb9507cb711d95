package server

import (
	"context"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
)

// healthz says the process serves.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz says the store answers: its database (SQLite, or a PostgreSQL
// server) runs a query. When it does not, the answer is a 503 saying so,
// without the database's address; the cause goes to the log.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	// A name no tenant can have (DEL is not printable), which every
	// database can still be asked for (PostgreSQL refuses a NUL in text):
	// NotFound means the store answered.
	if _, err := s.store.TenantByName(ctx, "\x7freadyz"); bulwark.ErrorKind(err) != bulwark.NotFound {
		return bulwark.E(bulwark.Unavailable, "server.readyz", "the store's database is not reachable", err)
	}
	for _, c := range s.cfg.Ready {
		if err := c.Check(ctx); err != nil {
			return bulwark.E(bulwark.Unavailable, "server.readyz", c.Name+" is not ready", err)
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// metrics serves Prometheus metrics to this machine (not through a proxy
// on it, and naming localhost or a loopback address in Host: see
// fromLoopback), or to a request with "Authorization: Bearer" and the
// metrics token.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	ok := fromLoopback(r)
	if tok, has := bearerToken(r); !ok && has && s.cfg.MetricsToken != "" {
		ok = subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.MetricsToken)) == 1
	}
	if !ok {
		return s.refuse(r, Principal{}, metrics.ForbiddenRoute, "metrics.refused",
			bulwark.Errorf(bulwark.PermissionDenied, "server.metrics", "metrics are served to this machine (as localhost or a loopback address), or with the metrics token"))
	}
	metrics.Handler().ServeHTTP(w, r)
	return nil
}
