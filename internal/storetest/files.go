package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

func testArtifacts(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	task := mustTask(t, s, a, bulwark.Task{Input: "x"})
	content := []byte("the report")
	got, err := s.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: "out/report.txt", Uploaded: true}, content)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != bulwark.ArtifactID(task.ID, "out/report.txt") || got.Size != int64(len(content)) || len(got.SHA256) != 64 || got.Created.IsZero() {
		t.Errorf("PutArtifact = %+v", got)
	}
	if _, err := s.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: "b.txt"}, []byte("B")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: "b.txt"}, []byte("BB")); err != nil {
		t.Fatal(err)
	}
	list, err := s.Artifacts(ctx, a, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Path != "b.txt" || list[0].Size != 2 || list[1].Path != "out/report.txt" || !list[1].Uploaded || list[1].SHA256 != got.SHA256 {
		t.Errorf("Artifacts = %+v, want b.txt (2 bytes) and out/report.txt (uploaded)", list)
	}
	meta, data, err := s.ArtifactContent(ctx, a, task.ID, "out/report.txt")
	if err != nil || !bytes.Equal(data, content) || meta.SHA256 != got.SHA256 || meta.Path != "out/report.txt" || !meta.Uploaded {
		t.Errorf("ArtifactContent = %+v, %q, %v", meta, data, err)
	}
	if n, err := s.ArtifactUsage(ctx, a); err != nil || n != int64(len(content))+2 {
		t.Errorf("ArtifactUsage = %d, %v, want %d", n, err, len(content)+2)
	}
	if n, err := s.ArtifactUsage(ctx, b); err != nil || n != 0 {
		t.Errorf("ArtifactUsage(b) = %d, %v, want 0", n, err)
	}
	if _, _, err := s.ArtifactContent(ctx, a, task.ID, "missing.txt"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("ArtifactContent of a missing path: %v, want NotFound", err)
	}
	if _, err := s.PutArtifact(ctx, a, bulwark.Artifact{TaskID: "t_nosuch", Path: "x"}, []byte("x")); !kindIs(err, bulwark.NotFound) {
		t.Errorf("PutArtifact into an unknown task: %v, want NotFound", err)
	}
	if _, err := s.Artifacts(ctx, a, "t_nosuch"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("Artifacts of an unknown task: %v, want NotFound", err)
	}
	for _, p := range []string{"", "/etc/passwd", "../x", "a/../../b", "a\x00b"} {
		if _, err := s.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: p}, []byte("x")); !kindIs(err, bulwark.Invalid) {
			t.Errorf("PutArtifact(path %q) = %v, want Invalid", p, err)
		}
	}
	// An empty file is a file.
	if _, err := s.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: "empty"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, data, err := s.ArtifactContent(ctx, a, task.ID, "empty"); err != nil || len(data) != 0 {
		t.Errorf("ArtifactContent(empty) = %q, %v", data, err)
	}
}

func testDeleteArtifacts(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	task := mustTask(t, s, a, bulwark.Task{Input: "x"})
	other := mustTask(t, s, a, bulwark.Task{Input: "y"})
	for _, id := range []string{task.ID, other.ID} {
		if _, err := s.PutArtifact(ctx, a, bulwark.Artifact{TaskID: id, Path: "a.txt"}, []byte("A")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteArtifacts(ctx, b, task.ID); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteArtifacts by another tenant: %v, want NotFound", err)
	}
	if list, _ := s.Artifacts(ctx, a, task.ID); len(list) != 1 {
		t.Fatalf("another tenant's DeleteArtifacts removed %d files", 1-len(list))
	}
	if err := s.DeleteArtifacts(ctx, a, task.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Artifacts(ctx, a, task.ID); len(list) != 0 {
		t.Errorf("after DeleteArtifacts: %+v, want none", list)
	}
	if list, _ := s.Artifacts(ctx, a, other.ID); len(list) != 1 {
		t.Errorf("DeleteArtifacts of one task left the other with %d files, want 1", len(list))
	}
	if n, _ := s.ArtifactUsage(ctx, a); n != 1 {
		t.Errorf("ArtifactUsage after DeleteArtifacts = %d, want 1", n)
	}
	if err := s.DeleteArtifacts(ctx, a, "t_nosuch"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("DeleteArtifacts of an unknown task: %v, want NotFound", err)
	}
}

func testSharedKeyUsage(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	day := time.Date(2030, 5, 6, 23, 59, 0, 0, time.UTC)
	for _, u := range []bulwark.Usage{{InputTokens: 100, OutputTokens: 20, Cost: 0.5}, {InputTokens: 1, OutputTokens: 2, Cost: 0.25}} {
		if err := s.AddSharedKeyUsage(ctx, a, day, u); err != nil {
			t.Fatal(err)
		}
	}
	east := day.Add(-time.Hour).In(time.FixedZone("east", 5*3600))
	if got, err := s.SharedKeyUsage(ctx, a, east); err != nil || got != (bulwark.Usage{InputTokens: 101, OutputTokens: 22, Cost: 0.75}) {
		t.Errorf("SharedKeyUsage(a, same day) = %+v, %v; want the sum", got, err)
	}
	if got, _ := s.SharedKeyUsage(ctx, a, day.Add(time.Minute)); got != (bulwark.Usage{}) {
		t.Errorf("SharedKeyUsage(a, next day) = %+v, want zero", got)
	}
	if got, _ := s.SharedKeyUsage(ctx, b, day); got != (bulwark.Usage{}) {
		t.Errorf("SharedKeyUsage(b) = %+v, want zero: tenants are counted apart", got)
	}
	if err := s.AddSharedKeyUsage(ctx, a, day, bulwark.Usage{InputTokens: -5}); !kindIs(err, bulwark.Invalid) {
		t.Errorf("negative usage: %v, want Invalid", err)
	}
}

// testTenantRequired: every tenant-scoped method refuses the zero tenant
// with Invalid "a tenant is required", and touches nothing.
func testTenantRequired(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	local, err := s.LocalTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustTask(t, s, local.ID, bulwark.Task{ID: "t_1", Input: "x"})
	if err := s.SetSecret(ctx, local.ID, "NAME", "value-123"); err != nil {
		t.Fatal(err)
	}
	for name, call := range callsWith(ctx, s, "", "t_1", "u_1", "k_1", "s_1") {
		if err := call(); !kindIs(err, bulwark.Invalid) {
			t.Errorf("%s with no tenant = %v, want Invalid", name, err)
		}
	}
	if vals, err := s.SecretValues(ctx, local.ID); err != nil || len(vals) != 1 {
		t.Errorf("after the calls, SecretValues = %v, %v; want the one secret untouched", vals, err)
	}
	if got, err := s.Task(ctx, local.ID, "t_1"); err != nil || got.Status != bulwark.TaskQueued {
		t.Errorf("after the calls, the task is %+v, %v; want it queued, untouched", got, err)
	}
}

// callsWith calls every tenant-scoped method with tenant and the given
// ids of a task, user, key and session.
func callsWith(ctx context.Context, s Store, tn bulwark.TenantID, task, user, key, session string) map[string]func() error {
	h := sha256.Sum256([]byte("h"))
	return map[string]func() error{
		"CreateTask":    func() error { _, err := s.CreateTask(ctx, tn, bulwark.Task{Input: "x"}); return err },
		"Task":          func() error { _, err := s.Task(ctx, tn, task); return err },
		"ListTasks":     func() error { _, err := s.ListTasks(ctx, tn, bulwark.ListTasksOptions{}); return err },
		"QueryTasks":    func() error { _, err := s.QueryTasks(ctx, tn, bulwark.TaskQuery{}); return err },
		"SetTaskStatus": func() error { return s.SetTaskStatus(ctx, tn, task, bulwark.TaskRunning) },
		"AppendEvent": func() error {
			return s.AppendEvent(ctx, tn, bulwark.Event{TaskID: task, Seq: 99, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishCanceled})
		},
		"Events":       func() error { _, err := s.Events(ctx, tn, task, 0, 0); return err },
		"ContinueTask": func() error { _, err := s.ContinueTask(ctx, tn, task, nil); return err },
		"PutArtifact": func() error {
			_, err := s.PutArtifact(ctx, tn, bulwark.Artifact{TaskID: task, Path: "f.txt"}, []byte("x"))
			return err
		},
		"Artifacts":         func() error { _, err := s.Artifacts(ctx, tn, task); return err },
		"ArtifactContent":   func() error { _, _, err := s.ArtifactContent(ctx, tn, task, "f.txt"); return err },
		"DeleteArtifacts":   func() error { return s.DeleteArtifacts(ctx, tn, task) },
		"SetSecret":         func() error { return s.SetSecret(ctx, tn, "NAME", "value-456") },
		"ListSecrets":       func() error { _, err := s.ListSecrets(ctx, tn); return err },
		"SecretValues":      func() error { _, err := s.SecretValues(ctx, tn); return err },
		"Secrets":           func() error { _, err := s.Secrets(ctx, tn); return err },
		"DeleteSecret":      func() error { return s.DeleteSecret(ctx, tn, "NAME") },
		"User":              func() error { _, err := s.User(ctx, tn, user); return err },
		"ListUsers":         func() error { _, err := s.ListUsers(ctx, tn); return err },
		"SetUserRole":       func() error { _, err := s.SetUserRole(ctx, tn, user, bulwark.RoleOwner); return err },
		"SetPasswordHash":   func() error { return s.SetPasswordHash(ctx, tn, user, "stolen") },
		"DeleteUser":        func() error { _, _, err := s.DeleteUser(ctx, tn, user); return err },
		"TenantUserByEmail": func() error { _, _, err := s.TenantUserByEmail(ctx, tn, "u@a.test"); return err },
		"CreateAPIKey": func() error {
			_, err := s.CreateAPIKey(ctx, tn, bulwark.APIKey{Name: "n", Prefix: "bwk_evil1234", Role: bulwark.RoleOwner, CreatorKey: key}, h[:])
			return err
		},
		"ListAPIKeys":  func() error { _, err := s.ListAPIKeys(ctx, tn); return err },
		"DeleteAPIKey": func() error { return s.DeleteAPIKey(ctx, tn, key) },
		"CreateSession": func() error {
			_, err := s.CreateSession(ctx, tn, bulwark.Session{UserID: user}, []byte("evil-session"))
			return err
		},
		"DeleteSession":      func() error { return s.DeleteSession(ctx, tn, session) },
		"DeleteUserSessions": func() error { _, err := s.DeleteUserSessions(ctx, tn, user); return err },
		"Settings":           func() error { _, err := s.Settings(ctx, tn); return err },
		"PutSettings":        func() error { _, err := s.PutSettings(ctx, tn, bulwark.Settings{}); return err },
		"SharedKeyUsage":     func() error { _, err := s.SharedKeyUsage(ctx, tn, time.Now()); return err },
		"AddSharedKeyUsage":  func() error { return s.AddSharedKeyUsage(ctx, tn, time.Now(), bulwark.Usage{InputTokens: 1}) },
		"ArtifactUsage":      func() error { _, err := s.ArtifactUsage(ctx, tn); return err },
	}
}

// crossTenantNotFound are the calls that name one of a's records and must
// be NotFound from tenant b; the others (listings, creations) see and
// change none of a's records.
var crossTenantNotFound = []string{
	"Task", "SetTaskStatus", "AppendEvent", "Events", "ContinueTask", "PutArtifact", "Artifacts", "ArtifactContent",
	"DeleteArtifacts", "User", "SetUserRole", "SetPasswordHash", "DeleteUser", "TenantUserByEmail", "CreateAPIKey",
	"DeleteAPIKey", "CreateSession", "DeleteSession",
}

// testCrossTenant: tenant b, naming every kind of a's records by id, gets
// NotFound, exactly as for records that do not exist, and a's records are
// unchanged afterwards.
func testCrossTenant(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	task := mustTask(t, s, a, bulwark.Task{Input: "a's input"})
	if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: 1, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "a's answer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: "f.txt"}, []byte("a's file")); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, a, bulwark.User{Email: "u@a.test", Role: bulwark.RoleMember}, "a's hash")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("k"))
	k, err := s.CreateAPIKey(ctx, a, bulwark.APIKey{Name: "k", Prefix: "bwk_aaaaaaaa", Role: bulwark.RoleMember, CreatedBy: "test"}, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.CreateSession(ctx, a, bulwark.Session{UserID: u.ID}, []byte("a's session"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSecret(ctx, a, "NAME", "a's value"); err != nil {
		t.Fatal(err)
	}
	calls := callsWith(ctx, s, b, task.ID, u.ID, k.ID, sess.ID)
	for _, name := range crossTenantNotFound {
		if err := calls[name](); !kindIs(err, bulwark.NotFound) {
			t.Errorf("%s of a's record from tenant b = %v, want NotFound", name, err)
		}
		delete(calls, name)
	}
	for _, call := range calls {
		call() // may succeed: on b's own records
	}
	// Nothing of a's changed or leaked.
	if got, err := s.Task(ctx, a, task.ID); err != nil || got.Status != bulwark.TaskSucceeded || got.Answer != "a's answer" || got.Turns != 1 {
		t.Errorf("a's task after b's calls = %+v, %v", got, err)
	}
	if es, err := s.Events(ctx, a, task.ID, 0, 0); err != nil || len(es) != 1 {
		t.Errorf("a's events after b's calls = %v, %v; want the one", es, err)
	}
	if _, data, err := s.ArtifactContent(ctx, a, task.ID, "f.txt"); err != nil || string(data) != "a's file" {
		t.Errorf("a's file after b's calls = %q, %v", data, err)
	}
	if got, hash, err := s.TenantUserByEmail(ctx, a, "u@a.test"); err != nil || got.Role != bulwark.RoleMember || hash != "a's hash" {
		t.Errorf("a's user after b's calls = %+v, %q, %v", got, hash, err)
	}
	if _, _, err := s.APIKeyByPrefix(ctx, k.Prefix); err != nil {
		t.Errorf("a's key after b's calls: %v", err)
	}
	if _, err := s.SessionByTokenHash(ctx, []byte("a's session")); err != nil {
		t.Errorf("a's session after b's calls: %v", err)
	}
	if vals, err := s.SecretValues(ctx, a); err != nil || vals["NAME"] != "a's value" {
		t.Errorf("a's secret after b's calls = %v, %v", vals, err)
	}
	if us, _ := s.ListUsers(ctx, b); len(us) != 0 {
		t.Errorf("ListUsers(b) = %v, want none", us)
	}
	if ks, _ := s.ListAPIKeys(ctx, b); len(ks) != 0 {
		t.Errorf("ListAPIKeys(b) = %v, want none of a's", ks)
	}
	if page, _ := s.QueryTasks(ctx, b, bulwark.TaskQuery{}); len(page.Tasks) != 1 {
		t.Errorf("QueryTasks(b) = %d tasks, want b's own one", len(page.Tasks))
	}
}

func testSchemaVersion(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	v, err := s.SchemaVersion(context.Background())
	if err != nil || v <= 0 {
		t.Errorf("SchemaVersion = %d, %v; want the newest migration's number", v, err)
	}
}
