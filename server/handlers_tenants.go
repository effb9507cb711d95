package server

import (
	"context"
	"net/http"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// The operator's routes. Operator keys have no tenant: they are made with
// `bulwark tenants operator-key` on the server's machine, and they allow
// these routes only.

type tenantsResponse struct {
	Tenants []bulwark.Tenant `json:"tenants"`
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.store.ListTenants(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenantsResponse{Tenants: nonNil(ts)})
	return nil
}

type createTenantRequest struct {
	Name string `json:"name"`
}

type createTenantResponse struct {
	Tenant bulwark.Tenant `json:"tenant"`
	Key    bulwark.APIKey `json:"key"`
	Token  string         `json:"token"` // the tenant's first owner key: shown this once
}

// CreateTenant makes a tenant and its first API key, with the owner role,
// and returns the key itself (to be shown once). `bulwark tenants create`
// and POST /api/v1/tenants both call it.
func CreateTenant(ctx context.Context, store bulwark.Store, name, createdBy string) (bulwark.Tenant, string, bulwark.APIKey, error) {
	t, err := store.CreateTenant(ctx, name)
	if err != nil {
		return t, "", bulwark.APIKey{}, err
	}
	token, k, err := IssueKey(ctx, store, t.ID, KeySpec{Name: "first owner key", Role: bulwark.RoleOwner, CreatedBy: createdBy})
	return t, token, k, err
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var req createTenantRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	t, token, k, err := CreateTenant(r.Context(), s.store, req.Name, p.Actor())
	if err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{TenantID: string(t.ID), Action: "tenant.create", Target: string(t.ID),
		Details: map[string]string{"name": t.Name, "key": k.ID}}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createTenantResponse{Tenant: t, Key: k, Token: token})
	return nil
}
