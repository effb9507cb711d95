package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/internal/racetest"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// Canaries: none may appear in a backup file.
const (
	backupSecret = "sk-bkcanary-7Hq2vLx9Pz4Nc8RwT3"
	backupText   = "TASKTEXT-canary-b5k2Zr"
	backupFile   = "FILECONTENT-canary-q8z1Vt"
	backupUpload = "UPLOADED-canary-m3w7Ys"
)

// backupModel answers by the task's input: "quick ..." writes out.txt and
// finishes; "long ..." writes a.txt and then thinks until it is told the
// task resumes after a restart, when it finishes with "resumed".
func backupModel(r *llmtest.Request) llmtest.Turn {
	input, results, resumed := "", 0, false
	for _, m := range r.Messages {
		if m.Role == llm.User && input == "" {
			input = m.Content
		}
		resumed = resumed || m.Role == llm.User && strings.Contains(m.Content, "resumes now")
		if m.Role == "tool" {
			results++
		}
	}
	call := func(name string, args map[string]string) llmtest.Turn {
		b, _ := json.Marshal(args)
		return llmtest.Turn{Content: "step", ToolCalls: []llmtest.ToolCall{{Name: name, Arguments: b}}}
	}
	file := "out.txt"
	if strings.Contains(input, "long") {
		file = "a.txt"
	}
	switch {
	case results == 0:
		return call("write_file", map[string]string{"path": file, "content": backupFile})
	case strings.Contains(input, "long") && !resumed:
		return llmtest.Turn{Content: "thinking", Hang: true}
	case resumed:
		return call("finish", map[string]string{"answer": "resumed"})
	}
	return call("finish", map[string]string{"answer": "finished"})
}

// waitUntil polls ok, failing the test after a generous hang guard (not a
// speed assertion).
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for i := 0; !ok(); i++ {
		if i > 6000 {
			t.Fatalf("never %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBackupOfALiveServer backs up a data folder while `bulwark serve`
// runs tasks on it (two finished, two running, new ones arriving all the
// while), and restores it into a new folder: the backup holds no canary
// (secret value, task text, file content, master key, plain keys), it
// verifies, the restored folder has every task with its steps, the
// secret, every file (those of finished tasks, an upload, and those of
// the running tasks, which a server started on the restored folder
// resumes from their checkpoints) and every audit record the live chains
// had before the backup began, and `bulwark audit verify` passes on it.
// A second restore into the same folder is refused.
func TestBackupOfALiveServer(t *testing.T) {
	model := llmtest.NewServer(backupModel)
	defer model.Close()
	data := t.TempDir()
	keyFile := filepath.Join(data, "master.key")
	kr, err := secret.CreateKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"BULWARK_RATE_LIMIT=off", "BULWARK_SHARED_PROVIDER_KEYS=on", "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + model.URL + "/v1"}
	extra := append([]string{"BULWARK_DATA=" + data}, base...)
	srv := startServe(t, extra, "--model", "openai:x")
	res := runBulwark(t, extra, "tenants", "create", "bk")
	if res.code != 0 {
		t.Fatalf("tenants create: %d %s", res.code, res.stderr)
	}
	key := strings.TrimSpace(res.stdout)
	if res := runBulwarkIn(t, extra, backupSecret, "secrets", "set", "--tenant", "bk", "DEPLOY_TOKEN"); res.code != 0 {
		t.Fatalf("secrets set: %d %s", res.code, res.stderr)
	}
	post := func(input string) string {
		var v crashTask
		if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"`+input+`"}`, &v); code != 201 {
			t.Fatalf("POST task = %d", code)
		}
		return v.ID
	}
	quick := []string{post("quick " + backupText), post("quick " + backupText)}
	long := []string{post("long " + backupText), post("long " + backupText)}
	for _, id := range quick {
		waitUntil(t, "finished "+id, func() bool { return srv.task(t, key, id).Status == "succeeded" })
	}
	for _, id := range long {
		waitUntil(t, "wrote a.txt in "+id, func() bool { return countType(srv.steps(t, key, id), "tool_result") == 1 })
	}
	if code := srv.upload(t, key, quick[0], "upload.txt", backupUpload); code != 201 && code != 200 {
		t.Fatalf("upload to a finished task = %d", code)
	}
	if code := srv.upload(t, key, long[0], "up2.txt", backupUpload); code != 201 && code != 200 {
		t.Fatalf("upload to a running task = %d", code)
	}
	for _, id := range long {
		if st := srv.task(t, key, id); st.Status != "running" {
			t.Fatalf("task %s is %s, want running during the backup", id, st.Status)
		}
	}
	before := chainHeads(t, filepath.Join(data, "audit"))
	stepsBefore := map[string][]crashStep{}
	for _, id := range append(quick, long...) {
		stepsBefore[id] = srv.steps(t, key, id)
	}

	// Back up while new tasks keep arriving.
	stop := racetest.Loop(1, func(int) {
		time.Sleep(20 * time.Millisecond)
		var v crashTask
		srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"quick load"}`, &v)
	})
	file := filepath.Join(t.TempDir(), "bulwark.backup")
	res = runBulwark(t, extra, "backup", "--out", file)
	stop()
	if res.code != 0 {
		t.Fatalf("backup: exit %d\n%s%s\nserve log:\n%s", res.code, res.stdout, res.stderr, srv.log)
	}
	t.Logf("backup:\n%s", res.stdout)

	// Nothing in the clear.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	masterText, _ := os.ReadFile(keyFile)
	canaries := map[string][]byte{
		"the secret value": []byte(backupSecret), "the task text": []byte(backupText),
		"a file's content": []byte(backupFile), "an upload's content": []byte(backupUpload),
		"the master key file": bytes.TrimSpace(masterText),
	}
	for _, line := range strings.Split(strings.TrimSpace(string(masterText)), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			canaries["a master key value"] = []byte(f[len(f)-1])
		}
	}
	for _, p := range []string{"keys/audit-signing.key", "device.key"} {
		if b, err := os.ReadFile(filepath.Join(data, p)); err == nil {
			canaries["the plain "+p] = b
		}
	}
	for what, c := range canaries {
		if len(c) < 8 {
			t.Fatalf("canary %s is too short to mean anything: %q", what, c)
		}
		if bytes.Contains(raw, c) {
			t.Errorf("the backup holds %s in the clear", what)
		}
	}

	if res := runBulwark(t, nil, "backup", "verify", file); res.code != 0 {
		t.Fatalf("backup verify: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	withKey := append([]string{"BULWARK_MASTER_KEY_FILE=" + keyFile}, base...)
	if res := runBulwark(t, withKey, "backup", "verify", file); res.code != 0 || !strings.Contains(res.stdout, "made with this master key") {
		t.Fatalf("backup verify with the master key: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	// Restore into a new folder; the master key comes from outside.
	restored := filepath.Join(t.TempDir(), "restored")
	if res := runBulwark(t, withKey, "restore", "--data", restored, file); res.code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(restored, masterKeyFileName)); err == nil {
		t.Error("the restored folder holds a master key")
	}
	if res := runBulwark(t, withKey, "restore", "--data", restored, file); res.code != 1 || !strings.Contains(res.stderr, "not empty") {
		t.Errorf("a second restore into the same folder: exit %d %s, want 1 and 'not empty'", res.code, res.stderr)
	}
	newExtra := append([]string{"BULWARK_DATA=" + restored}, withKey...)
	if res := runBulwark(t, newExtra, "audit", "verify"); res.code != 0 {
		t.Fatalf("audit verify on the restored folder: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	after := chainHeads(t, filepath.Join(restored, "audit"))
	for chain, h := range before {
		if after[chain].seq < h.seq {
			t.Errorf("%s: %d records restored, %d were there before the backup began", chainName(chain), after[chain].seq, h.seq)
		}
	}
	sameRecords(t, filepath.Join(data, "audit"), filepath.Join(restored, "audit"))

	// The secret, in the restored store, with its value.
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(restored, dbFileName), Keys: kr})
	if err != nil {
		t.Fatal(err)
	}
	tenant := bulwark.TenantID(tenantID(t, db, "bk"))
	secrets, err := db.Secrets(ctx, tenant)
	db.Close()
	if err != nil || len(secrets) != 1 || secrets[0].Name != "DEPLOY_TOKEN" || string(secrets[0].Value) != backupSecret {
		t.Errorf("restored secrets = %d, %v; want DEPLOY_TOKEN with its value", len(secrets), err)
	}

	// A server on the restored folder: every task with its steps, the
	// finished tasks' files, and the running tasks resumed from their
	// checkpoints with their files.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	srv2 := startServe(t, newExtra, "--model", "openai:x")
	for id, old := range stepsBefore {
		now := srv2.steps(t, key, id)
		if len(now) < len(old) {
			t.Fatalf("task %s has %d steps restored, %d before the backup", id, len(now), len(old))
		}
		for i := range old {
			if now[i] != old[i] {
				t.Errorf("task %s step %d = %+v, was %+v", id, i, now[i], old[i])
			}
		}
	}
	for _, id := range quick {
		var files struct {
			Files []struct {
				Path string `json:"path"`
			} `json:"files"`
		}
		srv2.call(t, key, "GET", "/api/v1/tasks/"+id+"/files", "", &files)
		t.Logf("files of %s after the restore: %+v (%+v)", id, files, srv2.task(t, key, id))
		if got := srv2.download(t, key, id, "out.txt"); got != backupFile {
			t.Errorf("out.txt of %s = %q", id, got)
		}
	}
	if got := srv2.download(t, key, quick[0], "upload.txt"); got != backupUpload {
		t.Errorf("the uploaded file = %q", got)
	}
	for _, id := range long {
		waitUntil(t, "resumed "+id, func() bool { return srv2.task(t, key, id).Status == "succeeded" })
		if a := srv2.task(t, key, id).Answer; a != "resumed" {
			t.Errorf("the restored running task %s answered %q, want resumed", id, a)
		}
		if got := srv2.download(t, key, id, "a.txt"); got != backupFile {
			t.Errorf("a.txt of the restored running task %s = %q", id, got)
		}
	}
	if got := srv2.download(t, key, long[0], "up2.txt"); got != backupUpload {
		t.Errorf("the file uploaded to a running task = %q", got)
	}
}

type chainHead struct{ seq uint64 }

// chainHeads reads the last seq of every chain of an audit folder.
func chainHeads(t *testing.T, dir string) map[string]chainHead {
	t.Helper()
	ctx := context.Background()
	d := audit.FileDir{Path: dir, ReadOnly: true}
	names, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]chainHead{}
	for _, n := range names {
		s, err := d.Open(ctx, n, false)
		if err != nil {
			t.Fatal(err)
		}
		seq, _, err := s.Head(ctx)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[n] = chainHead{seq}
	}
	return out
}

// sameRecords checks that every record of every chain in the restored
// audit folder is the record at the same place in the source's chain.
func sameRecords(t *testing.T, src, dst string) {
	t.Helper()
	ctx := context.Background()
	read := func(dir, chain string) []audit.Record {
		s, err := audit.FileDir{Path: dir, ReadOnly: true}.Open(ctx, chain, false)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out []audit.Record
		for r, err := range s.Read(ctx, 1) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	names, _ := audit.FileDir{Path: dst, ReadOnly: true}.List(ctx)
	if len(names) == 0 {
		t.Fatal("no audit chains restored")
	}
	for _, n := range names {
		a, b := read(src, n), read(dst, n)
		if len(b) > len(a) {
			t.Fatalf("%s: %d records restored, the source has %d", chainName(n), len(b), len(a))
		}
		for i := range b {
			if a[i].Hash != b[i].Hash {
				t.Fatalf("%s: record %d differs", chainName(n), i+1)
			}
		}
	}
}

func tenantID(t *testing.T, db *sqlite.DB, name string) string {
	t.Helper()
	ts, err := db.ListTenants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, te := range ts {
		if te.Name == name {
			return string(te.ID)
		}
	}
	t.Fatalf("no tenant %s", name)
	return ""
}
