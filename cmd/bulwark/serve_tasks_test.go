package main

import (
	"context"
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
}

func (f fakeTaskStore) Settings(context.Context, bulwark.TenantID) (bulwark.Settings, error) {
	return f.settings, nil
}
func (f fakeTaskStore) SecretValues(context.Context, bulwark.TenantID) (map[string]string, error) {
	m := map[string]string{}
	for k, v := range f.secrets {
		m[k] = v
	}
	return m, nil
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
	prep := prepareTask(fakeTaskStore{settings: bulwark.Settings{Model: "replay:/etc/passwd"}}, "")
	if _, err := prep(ctx, task, ws); bulwark.ErrorKind(err) != bulwark.PermissionDenied {
		t.Errorf("tenant replay model: %v, want permission denied", err)
	}
	// No model anywhere is a clear error.
	prep = prepareTask(fakeTaskStore{}, "")
	if _, err := prep(ctx, task, ws); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("no model: %v, want invalid", err)
	}
	// The tenant's provider key is used for the model, not given to tools.
	prep = prepareTask(fakeTaskStore{
		settings: bulwark.Settings{Model: "openai:gpt-test"},
		secrets:  map[string]string{bulwark.ModelAPIKeySecret: "sk-tenant-provider-key", "DEPLOY_TOKEN": "tok-123456789"},
	}, "")
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
