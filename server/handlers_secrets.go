package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

type secretsResponse struct {
	Secrets []bulwark.SecretInfo `json:"secrets"` // names and dates, never values
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) error {
	infos, err := s.store.ListSecrets(r.Context(), TenantFrom(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, secretsResponse{Secrets: nonNil(infos)})
	return nil
}

type putSecretRequest struct {
	Value string `json:"value"`
	// Hosts binds the secret to the hosts its value may be sent to
	// ("api.github.com", "*.example.com"); none leaves it unbound.
	Hosts []string `json:"hosts"`
	// Inject is where in a request to those hosts the value may go:
	// ["headers"] (the default, also when left out), "url", "body".
	Inject bulwark.SecretInject `json:"inject"`
}

// putSecret creates or replaces a secret and the hosts it is bound to. The
// value is in the body only, is never returned, and is masked from then on
// in what the tenant's answers show.
func (s *Server) putSecret(w http.ResponseWriter, r *http.Request) error {
	t, name := TenantFrom(r.Context()), r.PathValue("name")
	var req putSecretRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if _, err := egress.BindingHosts(req.Hosts); err != nil { // its message quotes the host: say it in words of our own
		return bulwark.E(bulwark.Invalid, "server.putSecret", "hosts: at most "+strconv.Itoa(egress.MaxSecretHosts)+
			" host names such as api.example.com, or *.example.com for the subdomains of a domain of two labels or more (no addresses, ports or other wildcards; not * either: a secret bound to every host is bound to none)", err)
	}
	if err := s.store.PutSecret(r.Context(), t, bulwark.Secret{Name: name, Value: req.Value, Hosts: req.Hosts, Inject: req.Inject}); err != nil {
		return err
	}
	s.red.Forget(t)
	if err := s.audit(r, audit.Record{Action: "secret.set", Target: name, Details: map[string]string{"hosts": strings.Join(req.Hosts, ","), "inject": req.Inject.String()}}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) error {
	t, name := TenantFrom(r.Context()), r.PathValue("name")
	if err := s.store.DeleteSecret(r.Context(), t, name); err != nil {
		return err
	}
	s.red.Forget(t)
	if err := s.audit(r, audit.Record{Action: "secret.delete", Target: name}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
