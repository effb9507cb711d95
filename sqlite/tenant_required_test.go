package sqlite

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// tenantMethods calls every bulwark.Store method that takes a tenant, with
// the tenant given. A method added to the interfaces with a tenant belongs
// here.
var tenantMethods = []struct {
	name string
	call func(ctx context.Context, s bulwark.Store, tenant bulwark.TenantID) error
}{
	{"Tenant", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		_, err := s.Tenant(ctx, tn)
		return err
	}},
	{"CreateTask", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		_, err := s.CreateTask(ctx, tn, bulwark.Task{Input: "x"})
		return err
	}},
	{"Task", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		_, err := s.Task(ctx, tn, "t_1")
		return err
	}},
	{"ListTasks", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		_, err := s.ListTasks(ctx, tn, bulwark.ListTasksOptions{})
		return err
	}},
	{"SetTaskStatus", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		return s.SetTaskStatus(ctx, tn, "t_1", bulwark.TaskRunning)
	}},
	{"AppendEvent", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		return s.AppendEvent(ctx, tn, bulwark.Event{TaskID: "t_1", Seq: 1, Type: bulwark.EventNotice})
	}},
	{"Events", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		_, err := s.Events(ctx, tn, "t_1", 0, 0)
		return err
	}},
	{"SetSecret", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		return s.SetSecret(ctx, tn, "NAME", "value-123")
	}},
	{"ListSecrets", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		_, err := s.ListSecrets(ctx, tn)
		return err
	}},
	{"SecretValues", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		_, err := s.SecretValues(ctx, tn)
		return err
	}},
	{"DeleteSecret", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		return s.DeleteSecret(ctx, tn, "NAME")
	}},
	{"NewRecorder", func(ctx context.Context, s bulwark.Store, tn bulwark.TenantID) error {
		r := bulwark.NewRecorder(ctx, s, tn, "t_1")
		r.Record(bulwark.Event{Seq: 1, Type: bulwark.EventNotice})
		return r.Err()
	}},
}

// TestTenantRequired checks that every tenant method refuses the zero
// TenantID with Invalid, even when the store holds data of the local
// tenant for the same ids, and touches nothing.
func TestTenantRequired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	local, err := db.LocalTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTask(ctx, local.ID, bulwark.Task{ID: "t_1", Input: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSecret(ctx, local.ID, "NAME", "value-123"); err != nil {
		t.Fatal(err)
	}
	for _, m := range tenantMethods {
		err := m.call(ctx, db, "")
		if bulwark.ErrorKind(err) != bulwark.Invalid || bulwark.ErrorMessage(err) != "a tenant is required" {
			t.Errorf("%s with no tenant = %v, want Invalid \"a tenant is required\"", m.name, err)
		}
	}
	if vals, err := db.SecretValues(ctx, local.ID); err != nil || len(vals) != 1 {
		t.Errorf("after the calls, SecretValues = %v, %v; want the one secret untouched", vals, err)
	}
	// And the same calls with the tenant work or fail for another reason.
	for _, m := range tenantMethods {
		if err := m.call(ctx, db, local.ID); bulwark.ErrorKind(err) == bulwark.Invalid && bulwark.ErrorMessage(err) == "a tenant is required" {
			t.Errorf("%s with a tenant = %v", m.name, err)
		}
	}
}
