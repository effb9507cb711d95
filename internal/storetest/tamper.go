package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testSealedValueMoved moves sealed values, in the database, to another
// tenant or another record of the same tenant: each then fails to open
// with an Internal error that does not hold the value, never reads as the
// other record's data. Hosts changed behind a secret's back fail it too.
func testSealedValueMoved(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	h := harness(t, open(t))
	a, b := mustTenant(t, h, "a"), mustTenant(t, h, "b")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// A secret copied to another tenant, under the same name.
	must(h.SetSecret(ctx, a, "TOKEN", "a-only-value"))
	must(h.SetSecret(ctx, b, "TOKEN", "b-own-value"))
	h.Exec(t, `UPDATE secrets SET value_ct = (SELECT value_ct FROM secrets WHERE tenant_id = ? AND name = 'TOKEN') WHERE tenant_id = ? AND name = 'TOKEN'`, a, b)
	vals, err := h.SecretValues(ctx, b)
	checkDoesNotOpen(t, "a secret moved to another tenant", vals, err, "a-only-value")

	// A secret moved to another name of the tenant.
	must(h.SetSecret(ctx, a, "PUBLIC_ID", "harmless-value"))
	h.Exec(t, `UPDATE secrets SET value_ct = (SELECT value_ct FROM secrets WHERE tenant_id = ? AND name = 'TOKEN') WHERE tenant_id = ? AND name = 'PUBLIC_ID'`, a, a)
	vals, err = h.SecretValues(ctx, a)
	checkDoesNotOpen(t, "a secret moved to another name", vals, err, "a-only-value")
	must(h.DeleteSecret(ctx, a, "PUBLIC_ID"))

	// A secret's hosts widened behind its back.
	must(h.SetSecret(ctx, a, "TOKEN", "bound-value-123", "api.example.com"))
	h.Exec(t, `UPDATE secrets SET hosts = 'evil.example.net' WHERE tenant_id = ? AND name = 'TOKEN'`, a)
	all, err := h.Secrets(ctx, a)
	checkDoesNotOpen(t, "a secret whose hosts were changed", all, err, "bound-value-123")

	// A task's input moved to another task; an event to another seq.
	t1 := mustTask(t, h, a, bulwark.Task{Input: "secret plan"})
	t2 := mustTask(t, h, a, bulwark.Task{Input: "public plan"})
	h.Exec(t, `UPDATE tasks SET input_ct = (SELECT input_ct FROM tasks WHERE id = ?) WHERE id = ?`, t1.ID, t2.ID)
	task, err := h.Task(ctx, a, t2.ID)
	checkDoesNotOpen(t, "a task input moved to another task", task, err, "secret plan")
	for seq, text := range []string{"first", "second"} {
		must(h.AppendEvent(ctx, a, bulwark.Event{TaskID: t1.ID, Seq: int64(seq + 1), Type: bulwark.EventNotice, Text: text}))
	}
	h.Exec(t, `UPDATE events SET payload_ct = (SELECT payload_ct FROM events WHERE task_id = ? AND seq = 1) WHERE task_id = ? AND seq = 2`, t1.ID, t1.ID)
	events, err := h.Events(ctx, a, t1.ID, 0, 0)
	checkDoesNotOpen(t, "an event moved to another seq", events, err, "first")

	// A file's content moved onto another file of the task.
	_, err = h.PutArtifact(ctx, a, bulwark.Artifact{TaskID: t1.ID, Path: "secret.txt"}, []byte("secret file"))
	must(err)
	pub, err := h.PutArtifact(ctx, a, bulwark.Artifact{TaskID: t1.ID, Path: "public.txt"}, []byte("public file"))
	must(err)
	h.Exec(t, `UPDATE artifacts SET content_ct = (SELECT content_ct FROM artifacts WHERE task_id = ? AND id = ?) WHERE task_id = ? AND id = ?`,
		t1.ID, bulwark.ArtifactID(t1.ID, "secret.txt"), t1.ID, pub.ID)
	_, data, err := h.ArtifactContent(ctx, a, t1.ID, "public.txt")
	checkDoesNotOpen(t, "a file's content moved to another file", data, err, "secret file")

	// Settings copied to another tenant.
	_, err = h.PutSettings(ctx, a, bulwark.Settings{Model: "openai:a-private-model"})
	must(err)
	h.Exec(t, `INSERT INTO settings (tenant_id, settings_ct, updated) SELECT ?, settings_ct, updated FROM settings WHERE tenant_id = ?`, b, a)
	settings, err := h.Settings(ctx, b)
	checkDoesNotOpen(t, "settings moved to another tenant", settings, err, "a-private-model")
}

func checkDoesNotOpen(t *testing.T, what string, got any, err error, leaked string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: read succeeded with %+v, want an error", what, got)
		return
	}
	if !kindIs(err, bulwark.Internal) {
		t.Errorf("%s: error %v, want Internal", what, err)
	}
	if strings.Contains(err.Error(), leaked) {
		t.Errorf("%s: the error %q holds the value", what, err)
	}
}
