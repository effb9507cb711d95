package main

import (
	"context"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"maps"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/workspace"
)

func TestMergeLimits(t *testing.T) {
	tests := []struct{ task, tenant, want bulwark.Limits }{
		{bulwark.Limits{}, bulwark.Limits{MaxSteps: 20}, bulwark.Limits{MaxSteps: 20}},
		{bulwark.Limits{MaxSteps: 5}, bulwark.Limits{MaxSteps: 20}, bulwark.Limits{MaxSteps: 5}},
		{bulwark.Limits{MaxSteps: 500}, bulwark.Limits{MaxSteps: 20}, bulwark.Limits{MaxSteps: 20}}, // never above the tenant's
		{bulwark.Limits{MaxDuration: time.Hour}, bulwark.Limits{MaxDuration: time.Minute}, bulwark.Limits{MaxDuration: time.Minute}},
		{bulwark.Limits{MaxCost: 1}, bulwark.Limits{}, bulwark.Limits{MaxCost: 1}},
	}
	for _, tt := range tests {
		if got := mergeLimits(tt.task, tt.tenant); got != tt.want {
			t.Errorf("mergeLimits(%+v, %+v) = %+v, want %+v", tt.task, tt.tenant, got, tt.want)
		}
	}
}

// fakeTaskStore is a taskStore of fixed settings and secrets.
type fakeTaskStore struct {
	settings bulwark.Settings
	secrets  map[string]string
	skills   []bulwark.StoredSkill
}

func (f fakeTaskStore) Skills(context.Context, bulwark.TenantID) ([]bulwark.StoredSkill, error) {
	return f.skills, nil
}
func (f fakeTaskStore) Settings(context.Context, bulwark.TenantID) (bulwark.Settings, error) {
	return f.settings, nil
}
func (f fakeTaskStore) Secrets(context.Context, bulwark.TenantID) ([]bulwark.Secret, error) {
	var all []bulwark.Secret
	for k, v := range f.secrets {
		all = append(all, bulwark.Secret{Name: k, Value: v})
	}
	return all, nil
}
func (f fakeTaskStore) SecretValues(context.Context, bulwark.TenantID) (map[string]string, error) {
	return maps.Clone(f.secrets), nil
}

func (f fakeTaskStore) Tenant(_ context.Context, id bulwark.TenantID) (bulwark.Tenant, error) {
	return bulwark.Tenant{ID: id, Name: "fake"}, nil
}
func (f fakeTaskStore) SharedKeyUsage(context.Context, bulwark.TenantID, time.Time) (bulwark.Usage, error) {
	return bulwark.Usage{}, nil
}
func (f fakeTaskStore) AddSharedKeyUsage(context.Context, bulwark.TenantID, time.Time, bulwark.Usage) error {
	return nil
}

func TestPrepareTask(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ctx := context.Background()
	task := bulwark.Task{ID: "t_1", TenantID: "tn_1"}

	// A tenant cannot point the server at a file through a replay model.
	prep := prepareTask(fakeTaskStore{settings: bulwark.Settings{Model: "replay:/etc/passwd"}}, "", tenantLimits{}, false, nil, mcpclient.Config{}, nil, injectionSettings{})
	if _, err := prep(ctx, task, ws); bulwark.ErrorKind(err) != bulwark.PermissionDenied {
		t.Errorf("tenant replay model: %v, want permission denied", err)
	}
	// No model anywhere is a clear error.
	prep = prepareTask(fakeTaskStore{}, "", tenantLimits{}, false, nil, mcpclient.Config{}, nil, injectionSettings{})
	if _, err := prep(ctx, task, ws); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("no model: %v, want invalid", err)
	}
	// The tenant's provider key is used for the model, not given to tools.
	prep = prepareTask(fakeTaskStore{
		settings: bulwark.Settings{Model: "openai:gpt-test"},
		secrets:  map[string]string{bulwark.ModelAPIKeySecret: "sk-tenant-provider-key", "DEPLOY_TOKEN": "tok-123456789"},
	}, "", tenantLimits{}, false, nil, mcpclient.Config{}, nil, injectionSettings{})
	setup, err := prep(ctx, task, ws)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer setup.Close()
	if _, ok := setup.Secrets[bulwark.ModelAPIKeySecret]; ok {
		t.Error("the provider key is offered to tools as a secret")
	}
	if setup.Secrets["DEPLOY_TOKEN"] != "tok-123456789" {
		t.Error("the tenant's secrets are missing")
	}
	if got := setup.Mask("key sk-tenant-provider-key and tok-123456789"); got != "key [REDACTED:MODEL_API_KEY] and [REDACTED:DEPLOY_TOKEN]" {
		t.Errorf("Mask = %q", got)
	}
}

// TestPrepareTaskSecretsIsolated: a task masks its own tenant's secrets
// only, and two tenants' secrets of one name are both kept by the
// process's log redactor while their tasks run, and no longer after.
func TestPrepareTaskSecretsIsolated(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ctx := context.Background()
	values := map[bulwark.TenantID]string{"tn_iso_a": "value-of-a-5k3j2h", "tn_iso_b": "value-of-b-9x8c7v"}
	masks := map[bulwark.TenantID]func(string) string{}
	var closers []func()
	for tenant, v := range values {
		prep := prepareTask(fakeTaskStore{settings: bulwark.Settings{Model: "openai:gpt-test"}, secrets: map[string]string{"TOKEN": v, bulwark.ModelAPIKeySecret: "sk-provider-" + string(tenant)}}, "", tenantLimits{}, false, nil, mcpclient.Config{}, nil, injectionSettings{})
		setup, err := prep(ctx, bulwark.Task{ID: "t_1", TenantID: string(tenant)}, ws)
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, setup.Close)
		masks[tenant] = setup.Mask
	}
	both := values["tn_iso_a"] + " " + values["tn_iso_b"]
	if got := masks["tn_iso_a"](both); got != "[REDACTED:TOKEN] "+values["tn_iso_b"] {
		t.Errorf("tenant a's task masks %q as %q: want its own secret only", both, got)
	}
	if got := redactor.String(both); got != "[REDACTED:tn_iso_a.t_1.TOKEN] [REDACTED:tn_iso_b.t_1.TOKEN]" {
		t.Errorf("the log redactor masks %q as %q: want both", both, got)
	}
	for _, c := range closers {
		c()
	}
	if got := redactor.String(both); got != both {
		t.Errorf("after the tasks ended the log redactor masks %q as %q: want their secrets gone", both, got)
	}
}
