package storetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// canaries are values that must never be found in the store's bytes at
// rest.
var canaries = []string{
	"CANARY-secret-value-7f3a9c",
	"CANARY-task-input-51be02",
	"CANARY-model-text-a09f11",
	"CANARY-tool-args-33d0c4",
	"CANARY-tool-output-e8812b",
	"CANARY-final-answer-4c6d2e",
	"CANARY-user-message-90aa17",
	"CANARY-artifact-content-6b1f0e",
	"CANARY-artifact-path-2d77aa",
	"CANARY-settings-model-0c4e5f",
}

// testNothingInTheClear stores canaries in a secret, task inputs, events,
// a task's answer, an artifact (content and path) and settings, reads
// them back through the store, then finds none of them in the store's
// bytes at rest: raw, JSON-escaped, base64-encoded or hex-encoded (as
// PostgreSQL prints bytea).
func testNothingInTheClear(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	h := harness(t, s)
	tn, err := s.LocalTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSecret(ctx, tn.ID, "API_KEY", canaries[0], "api.example.com"); err != nil {
		t.Fatal(err)
	}
	args, _ := json.Marshal(map[string]string{"content": canaries[3]})
	var task bulwark.Task
	for i := range 3 {
		task = mustTask(t, s, tn.ID, bulwark.Task{Input: canaries[1], Model: "replay:x"})
		rec := bulwark.NewRecorder(ctx, s, tn.ID, task.ID)
		for j, e := range []bulwark.Event{
			{Type: bulwark.EventTaskStarted, Text: canaries[1]},
			{Type: bulwark.EventModelText, Text: canaries[2]},
			{Type: bulwark.EventToolCall, Tool: "write_file", Args: args},
			{Type: bulwark.EventToolResult, Tool: "write_file", Text: canaries[4]},
			{Type: bulwark.EventUserMessage, Text: canaries[6]},
			{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: canaries[5]},
		} {
			e.Seq = int64(j + 1)
			rec.Record(e)
		}
		if err := rec.Err(); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := s.SetSecret(ctx, tn.ID, "API_KEY", canaries[0]+"-2"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.PutArtifact(ctx, tn.ID, bulwark.Artifact{TaskID: task.ID, Path: canaries[8] + "/f.txt"}, []byte("content: "+canaries[7])); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSettings(ctx, tn.ID, bulwark.Settings{Model: canaries[9]}); err != nil {
		t.Fatal(err)
	}
	// The values do come back through the store...
	if vals, err := s.SecretValues(ctx, tn.ID); err != nil || vals["API_KEY"] != canaries[0]+"-2" {
		t.Fatalf("SecretValues = %v, %v", vals, err)
	}
	if got, err := s.Task(ctx, tn.ID, task.ID); err != nil || got.Input != canaries[1] || got.Answer != canaries[5] {
		t.Fatalf("Task = %+v, %v", got, err)
	}
	if _, data, err := s.ArtifactContent(ctx, tn.ID, task.ID, canaries[8]+"/f.txt"); err != nil || !bytes.Contains(data, []byte(canaries[7])) {
		t.Fatalf("ArtifactContent = %q, %v", data, err)
	}
	if es, err := s.Events(ctx, tn.ID, task.ID, 0, 0); err != nil || len(es) != 6 || es[1].Text != canaries[2] {
		t.Fatalf("Events = %v, %v", es, err)
	}
	// ...but are nowhere at rest.
	dump := h.Dump(t)
	if len(dump) == 0 {
		t.Fatal("Dump returned nothing")
	}
	if !bytes.Contains(dump, []byte(string(tn.ID))) {
		t.Fatalf("the dump does not hold the tenant id %s (kept in the clear): it is not the store's data", tn.ID)
	}
	for _, c := range canaries {
		q, _ := json.Marshal(c)
		for _, n := range []string{c, string(q[1 : len(q)-1]), base64.StdEncoding.EncodeToString([]byte(c))[:len(c)], hexOf(c)} {
			if bytes.Contains(dump, []byte(n)) {
				t.Errorf("the store holds %q in the clear", n)
			}
		}
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := range len(s) {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

// testRotateAndRetire: with master keys from the environment, rotation
// re-wraps every data key to the newest version the operator supplied,
// data stays readable throughout and after the old version is retired,
// and the Conflict and NotFound cases of KeyAdmin hold.
func testRotateAndRetire(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	h := harness(t, open(t))
	k1 := h.Keys()
	a, b := mustTenant(t, h, "a"), mustTenant(t, h, "b")
	for _, tn := range []bulwark.TenantID{a, b} {
		if err := h.SetSecret(ctx, tn, "K", "value-of-"+string(tn)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.RotateMaster(ctx); !kindIs(err, bulwark.Conflict) {
		t.Errorf("RotateMaster with no new version = %v, want Conflict", err)
	}
	if err := h.RetireMaster(ctx, int(k1.Current())); !kindIs(err, bulwark.Conflict) {
		t.Errorf("RetireMaster(current) = %v, want Conflict", err)
	}
	if err := h.RetireMaster(ctx, 0); !kindIs(err, bulwark.Invalid) {
		t.Errorf("RetireMaster(0) = %v, want Invalid", err)
	}
	k2 := k1.WithNewKey()
	h2, err := h.Reopen(t, k2)
	if err != nil {
		t.Fatal(err)
	}
	st, err := h2.KeyStatus(ctx)
	if err != nil || st.Current != int(k2.Current()) || len(st.Versions) != 2 || st.Versions[0].DataKeys != 2 {
		t.Errorf("KeyStatus before rotating = %+v, %v; want version 1 wrapping 2 data keys, version 2 current", st, err)
	}
	if err := h2.RetireMaster(ctx, int(k1.Current())); !kindIs(err, bulwark.Conflict) {
		t.Errorf("RetireMaster of a version still wrapping = %v, want Conflict", err)
	}
	rot, err := h2.RotateMaster(ctx)
	if err != nil || rot.Version != int(k2.Current()) || rot.Rewrapped != 2 || rot.DataKeys != 2 {
		t.Fatalf("RotateMaster = %+v, %v; want 2 data keys re-wrapped to version %d and 2 new ones made", rot, err, k2.Current())
	}
	c := mustTenant(t, h2, "c") // a new tenant's key is wrapped by the new version
	if err := h2.SetSecret(ctx, c, "K", "value-of-"+string(c)); err != nil {
		t.Fatal(err)
	}
	if err := h2.RetireMaster(ctx, int(k1.Current())); err != nil {
		t.Fatalf("RetireMaster(old) = %v", err)
	}
	if err := h2.RetireMaster(ctx, int(k1.Current())); !kindIs(err, bulwark.NotFound) {
		t.Errorf("RetireMaster again = %v, want NotFound", err)
	}
	st, err = h2.KeyStatus(ctx)
	if err != nil || len(st.Versions) != 1 || st.Versions[0].DataKeys != 5 || !st.Versions[0].Current {
		t.Errorf("KeyStatus after retiring = %+v, %v; want one current version wrapping 5 data keys (a and b two each, c one)", st, err)
	}
	// Opened with the new version alone, everything reads.
	k2only, err := k2.Without(k1.Current())
	if err != nil {
		t.Fatal(err)
	}
	h3, err := h2.Reopen(t, k2only)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range []bulwark.TenantID{a, b, c} {
		if vals, err := h3.SecretValues(ctx, tn); err != nil || vals["K"] != "value-of-"+string(tn) {
			t.Errorf("after rotation, SecretValues(%s) = %v, %v", tn, vals, err)
		}
	}
	// The retired version alone opens nothing.
	if _, err := h3.Reopen(t, k1); err == nil || !kindIs(err, bulwark.Invalid) {
		t.Errorf("Open with the retired master key = %v, want Invalid", err)
	}
}

// testWrongMasterKey: a store opened with a master key that is not the one
// its data keys were wrapped with is refused at Open, saying so, and no
// master key at all is refused.
func testWrongMasterKey(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	h := harness(t, open(t))
	a := mustTenant(t, h, "a")
	if err := h.SetSecret(ctx, a, "K", "value-123"); err != nil {
		t.Fatal(err)
	}
	_, err := h.Reopen(t, secret.NewKeyring())
	if !kindIs(err, bulwark.Invalid) || !strings.Contains(bulwark.ErrorMessage(err), "master key does not open") {
		t.Errorf("Open with another master key = %v, want Invalid saying the master key does not open the data keys", err)
	}
	if _, err := h.Reopen(t, nil); !kindIs(err, bulwark.Invalid) {
		t.Errorf("Open without a master key = %v, want Invalid", err)
	}
	h2, err := h.Reopen(t, h.Keys())
	if err != nil {
		t.Fatalf("Open with the right key after refusals = %v", err)
	}
	if vals, err := h2.SecretValues(ctx, a); err != nil || vals["K"] != "value-123" {
		t.Errorf("SecretValues = %v, %v", vals, err)
	}
}
