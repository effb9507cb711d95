package server

import (
	"net/http"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
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
}

// redactLabel is the label a tenant's secret is registered under with the
// process redactor: tenant and name, so that two tenants' secrets of one
// name do not replace each other.
func redactLabel(t bulwark.TenantID, name string) string { return string(t) + "." + name }

// putSecret creates or replaces a secret. The value is in the body only,
// is never returned, and is masked from then on in everything the process
// logs.
func (s *Server) putSecret(w http.ResponseWriter, r *http.Request) error {
	t, name := TenantFrom(r.Context()), r.PathValue("name")
	var req putSecretRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.store.SetSecret(r.Context(), t, name, req.Value); err != nil {
		return err
	}
	s.red.Add(redactLabel(t, name), req.Value)
	if err := s.audit(r, audit.Record{Action: "secret.set", Target: name}); err != nil {
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
	// The value stays registered with the redactor: it may still be in
	// logs and outputs of tasks that ran with it.
	if err := s.audit(r, audit.Record{Action: "secret.delete", Target: name}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
