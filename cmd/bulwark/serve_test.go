package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// TestServeTenantsCreate runs the built binary: serve on a free loopback
// port, then tenants create while it runs; the one line it prints is a
// key the server takes; SIGTERM stops the server cleanly.
func TestServeTenantsCreate(t *testing.T) {
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	extra := []string{"BULWARK_DATA=" + data}
	cmd := bulwarkCmd(t, extra, "serve", "--addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	lines := bufio.NewScanner(stderr)
	addrRE := regexp.MustCompile(`serving on (http://127\.0\.0\.1:\d+)`)
	var base string
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("serve did not say where it serves; stderr:\n%s", rest.String())
	}
	go func() {
		io.Copy(&rest, stderr)
		done <- cmd.Wait()
	}()

	res := runBulwark(t, extra, "tenants", "create", "acme")
	if res.code != 0 {
		t.Fatalf("tenants create: exit %d, stderr %q", res.code, res.stderr)
	}
	if !regexp.MustCompile(`^bwk_[A-Z2-7]{52}\n$`).MatchString(res.stdout) {
		t.Fatalf("tenants create printed %q on stdout, want exactly one bwk_ line", res.stdout)
	}
	key := strings.TrimSpace(res.stdout)

	ask := func(key string) (int, map[string]any) {
		r, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, body := ask(key); code != 200 || body["role"] != "owner" {
		t.Errorf("GET /api/v1/me with the printed key = %d %v, want 200 as owner", code, body)
	}
	changed := key[:len(key)-1] + "A"
	if changed == key { // one key in 32 ends in A already
		changed = key[:len(key)-1] + "B"
	}
	if code, _ := ask(changed); code != 401 {
		t.Errorf("GET /api/v1/me with a changed key = %d, want 401", code)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v; stderr:\n%s", err, rest.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if !strings.Contains(rest.String(), "stopped") || strings.Contains(rest.String(), "goroutine ") {
		t.Errorf("serve's stderr:\n%s\nwant a clean stop", rest.String())
	}
}

func TestServeRefusesOpenAddressWithoutTLS(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.0.2.10:8080"} {
		res := runBulwark(t, []string{"BULWARK_DATA=" + t.TempDir()}, "serve", "--addr", addr)
		if res.code != exitUsage || strings.Count(res.stderr, "\n") != 1 || !strings.Contains(res.stderr, "TLS") {
			t.Errorf("serve --addr %s: exit %d, stderr %q; want 2 and one line about TLS", addr, res.code, res.stderr)
		}
	}
	res := runBulwark(t, nil, "serve", "--tls-cert", "x.pem")
	if res.code != exitUsage || !strings.Contains(res.stderr, "--tls-key") {
		t.Errorf("serve --tls-cert alone: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestUsersCommand(t *testing.T) {
	if env("BULWARK_MASTER_KEY") != "" || env("BULWARK_MASTER_KEY_FILE") != "" {
		t.Skip("a master key is set in the environment; this test uses the data folder's own")
	}
	data := t.TempDir()
	if code, _, stderr := runCmd(t, cmdTenants, "", "create", "acme", "--data", data); code != exitOK {
		t.Fatalf("tenants create: %d %s", code, stderr)
	}
	refused := []struct {
		name, in string
		args     []string
		want     string
	}{
		{"password flag", "", []string{"create", "--tenant", "acme", "--email", "a@b.c", "--password", "hunter2hunter2"}, "never taken from the command line"},
		{"password argument", "", []string{"create", "--tenant", "acme", "--email", "a@b.c", "hunter2hunter2"}, "never from the command line"},
		{"short password", "short\n", []string{"create", "--tenant", "acme", "--email", "a@b.c"}, "at least 12"},
		{"common password", "1qaz2wsx3edc\n", []string{"create", "--tenant", "acme", "--email", "a@b.c"}, "common or breached"},
		{"easy password", "zzzzzzzzzzzzzzzz\n", []string{"create", "--tenant", "acme", "--email", "a@b.c"}, "easy to guess"},
		{"email as password", "ann.smith@example.com\n", []string{"create", "--tenant", "acme", "--email", "ann.smith@example.com"}, "your email"},
		{"bad role", "plum violet anchor 47\n", []string{"create", "--tenant", "acme", "--email", "a@b.c", "--role", "root"}, "unknown role"},
		{"no tenant", "plum violet anchor 47\n", []string{"create", "--email", "a@b.c"}, "--tenant"},
		{"bad hash", "$2a$04$tooweak", []string{"create", "--tenant", "acme", "--email", "a@b.c", "--hash"}, "bcrypt"},
	}
	for _, c := range refused {
		code, _, stderr := runCmd(t, cmdUsers, c.in, append(c.args, "--data", data)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", c.name, code, stderr, c.want)
		}
	}
	code, out, stderr := runCmd(t, cmdUsers, "a plum violet anchor 47\n", "create", "--tenant", "acme", "--email", "Ann@Example.com", "--role", "admin", "--data", data)
	if code != exitOK || !strings.HasPrefix(out, "u_") {
		t.Fatalf("users create: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, _ = runCmd(t, cmdUsers, "", "list", "--tenant", "acme", "--data", data)
	if code != exitOK || !strings.Contains(out, "ann@example.com") || !strings.Contains(out, "admin") {
		t.Errorf("users list: exit %d, stdout %q", code, out)
	}
	// The stored hash is argon2id, never the password.
	kr, err := secret.ReadKeyFile(filepath.Join(data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(data, "bulwark.db"), Keys: kr})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, hash, err := db.UserByEmail(context.Background(), "ann@example.com")
	if err != nil || !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("stored hash %q, %v; want argon2id with the default costs", hash, err)
	}
	for _, f := range []string{"bulwark.db", "bulwark.db-wal"} {
		raw, _ := os.ReadFile(filepath.Join(data, f))
		if strings.Contains(string(raw), "a plum violet anchor 47") {
			t.Errorf("the password is in %s", f)
		}
	}
}
