package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/secret"
)

// runCmd runs a command function with stdin in and returns its exit status,
// stdout and stderr.
func runCmd(t *testing.T, fn func(context.Context, []string, stdio) int, in string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := fn(context.Background(), args, stdio{strings.NewReader(in), &out, &errb})
	return code, out.String(), errb.String()
}

func TestSecretsCommand(t *testing.T) {
	if env("BULWARK_MASTER_KEY") != "" || env("BULWARK_MASTER_KEY_FILE") != "" {
		t.Skip("a master key is set in the environment; this test uses the data folder's own")
	}
	data := t.TempDir()
	const value = "s3cr3t-value-for-test"
	var stderrs []string

	code, _, stderr := runCmd(t, cmdSecrets, value+"\n", "set", "--data", data, "API_KEY")
	stderrs = append(stderrs, stderr)
	if code != exitOK {
		t.Fatalf("secrets set: exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "WARNING: no master key was given") {
		t.Errorf("first use: stderr %q, want the warning about the generated master key", stderr)
	}
	if fi, err := os.Stat(filepath.Join(data, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("generated master.key: %v, want mode 0600", err)
	}
	// Flags after the name work too, and the second use warns no more.
	code, _, stderr = runCmd(t, cmdSecrets, "other-value-123", "set", "OTHER", "--data", data)
	stderrs = append(stderrs, stderr)
	if code != exitOK || strings.Contains(stderr, "WARNING") {
		t.Errorf("secrets set OTHER --data: exit %d, stderr %q", code, stderr)
	}

	refused := []struct {
		name string
		in   string
		args []string
		want string
	}{
		{"value as an argument", "", []string{"set", "--data", data, "TOKEN", value}, "never taken from the command line"},
		{"NAME=VALUE", "", []string{"set", "--data", data, "TOKEN=" + value}, "never taken from the command line"},
		{"empty stdin", "", []string{"set", "--data", data, "TOKEN"}, "the value is empty"},
		{"only a newline", "\n", []string{"set", "--data", data, "TOKEN"}, "the value is empty"},
		{"bad name", value, []string{"set", "--data", data, "9lives"}, "is not a secret name"},
		{"no name", value, []string{"set", "--data", data}, "no secret NAME"},
		{"unknown subcommand", "", []string{"show", "--data", data}, "unknown subcommand"},
	}
	for _, tc := range refused {
		code, out, stderr := runCmd(t, cmdSecrets, tc.in, tc.args...)
		stderrs = append(stderrs, stderr, out)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: secrets %q: exit %d, stderr %q; want exit %d and %q", tc.name, tc.args, code, stderr, exitUsage, tc.want)
		}
	}
	code, _, stderr = runCmd(t, cmdSecrets, "value-123", "set", "--data", data, "--tenant", "nobody", "X")
	if code != exitFailed || !strings.Contains(stderr, `no tenant named "nobody"`) {
		t.Errorf("set for an unknown tenant: exit %d, stderr %q", code, stderr)
	}

	code, out, stderr := runCmd(t, cmdSecrets, "", "list", "--data", data)
	stderrs = append(stderrs, stderr, out)
	if code != exitOK || !strings.Contains(out, "API_KEY") || !strings.Contains(out, "OTHER") || strings.Contains(out, "TOKEN") {
		t.Errorf("secrets list: exit %d, stdout %q; want API_KEY and OTHER only", code, out)
	}

	// The value went in whole, less the newline that ended it.
	db, tenant, _, err := openLocalStore(context.Background(), storeFlags{data: data}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := db.SecretValues(context.Background(), tenant.ID)
	db.Close()
	if err != nil || vals["API_KEY"] != value || vals["OTHER"] != "other-value-123" {
		t.Errorf("stored values = %q, %v", vals, err)
	}

	code, _, stderr = runCmd(t, cmdSecrets, "", "delete", "--data", data, "API_KEY")
	if code != exitOK {
		t.Errorf("secrets delete: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCmd(t, cmdSecrets, "", "delete", "--data", data, "API_KEY")
	if code != exitFailed || !strings.Contains(stderr, `no secret named "API_KEY"`) {
		t.Errorf("second secrets delete: exit %d, stderr %q", code, stderr)
	}
	for _, s := range stderrs {
		if strings.Contains(s, value) {
			t.Errorf("a command printed the secret's value: %q", s)
		}
	}
}

func TestKeysCommand(t *testing.T) {
	if env("BULWARK_MASTER_KEY") != "" || env("BULWARK_MASTER_KEY_FILE") != "" {
		t.Skip("a master key is set in the environment; this test uses the data folder's own")
	}
	data := t.TempDir()
	if code, _, stderr := runCmd(t, cmdSecrets, "value-123", "set", "--data", data, "K"); code != exitOK {
		t.Fatalf("secrets set: exit %d, %s", code, stderr)
	}
	steps := []struct {
		args []string
		code int
		want string // in stdout, or stderr on failure
	}{
		{[]string{"status", "--data", data}, exitOK, "current version 1"},
		{[]string{"rotate-master", "--data", data}, exitOK, "master key version 2 is current; 1 data keys re-wrapped"},
		{[]string{"retire-master", "--data", data, "--version", "2"}, exitFailed, "is the current one"},
		{[]string{"retire-master", "--data", data}, exitUsage, "--version N"},
		{[]string{"retire-master", "--data", data, "--version", "1"}, exitOK, "version 1 retired"},
		{[]string{"retire-master", "--data", data, "--version", "1"}, exitFailed, "no master key version 1"},
		{[]string{"status", "--data", data}, exitOK, "current version 2"},
	}
	for _, st := range steps {
		code, out, stderr := runCmd(t, cmdKeys, "", st.args...)
		got := out
		if st.code != exitOK {
			got = stderr
		}
		if code != st.code || !strings.Contains(got, st.want) {
			t.Errorf("keys %q: exit %d, stdout %q, stderr %q; want exit %d and %q", st.args, code, out, stderr, st.code, st.want)
		}
	}
	code, out, _ := runCmd(t, cmdSecrets, "", "list", "--data", data)
	if code != exitOK || !strings.Contains(out, "K ") {
		t.Errorf("secrets list after rotation: exit %d, %q", code, out)
	}

	// Another master key in the data folder: a clear error, no data.
	if err := os.Remove(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCmd(t, cmdSecrets, "", "list", "--data", data)
	if code != exitFailed || !strings.Contains(stderr, "the master key does not open the data keys of this data folder: was BULWARK_MASTER_KEY changed?") || out != "" {
		t.Errorf("with another master key: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// No master key at all next to existing data: refused, not regenerated.
	os.Remove(filepath.Join(data, "master.key"))
	code, _, stderr = runCmd(t, cmdSecrets, "", "list", "--data", data)
	if code != exitFailed || !strings.Contains(stderr, "holds encrypted data but no master key") {
		t.Errorf("without a master key: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "master.key")); err == nil {
		t.Error("a new master key was generated for a folder that holds data")
	}
}

// secrets set --hosts binds the secret; list shows the hosts; addresses and
// loose wildcards are refused before anything is stored.
func TestSecretsCommandHosts(t *testing.T) {
	if env("BULWARK_MASTER_KEY") != "" || env("BULWARK_MASTER_KEY_FILE") != "" {
		t.Skip("a master key is set in the environment; this test uses the data folder's own")
	}
	data := t.TempDir()
	code, _, stderr := runCmd(t, cmdSecrets, "ghp-value-123\n", "set", "--data", data, "--hosts", "API.github.com,*.example.com", "GH")
	if code != exitOK || !strings.Contains(stderr, "bound to *.example.com, api.github.com") {
		t.Fatalf("secrets set --hosts: exit %d, stderr %q", code, stderr)
	}
	for _, bad := range []string{"127.0.0.1", "*", "*.com", "api.github.com:443", "a,,b"} {
		code, _, stderr := runCmd(t, cmdSecrets, "value-123", "set", "--data", data, "--hosts", bad, "BAD")
		if code != exitUsage || !strings.Contains(stderr, "--hosts") {
			t.Errorf("secrets set --hosts %q: exit %d, stderr %q; want a usage error", bad, code, stderr)
		}
	}
	code, out, _ := runCmd(t, cmdSecrets, "", "list", "--data", data)
	if code != exitOK || !strings.Contains(out, "*.example.com,api.github.com") || strings.Contains(out, "BAD") {
		t.Errorf("secrets list: exit %d, stdout %q; want GH with its hosts, no BAD", code, out)
	}
	code, _, stderr = runCmd(t, cmdSecrets, "", "delete", "--data", data, "--hosts", "x.com", "GH")
	if code != exitUsage {
		t.Errorf("secrets delete --hosts: exit %d, stderr %q; want a usage error", code, stderr)
	}
}

// secrets set --inject says where in a request the value may go (headers
// only without it); list shows it; a bad place, or places for a secret
// bound to no host, are usage errors before anything is stored.
func TestSecretsCommandInject(t *testing.T) {
	if env("BULWARK_MASTER_KEY") != "" || env("BULWARK_MASTER_KEY_FILE") != "" {
		t.Skip("a master key is set in the environment; this test uses the data folder's own")
	}
	data := t.TempDir()
	code, _, stderr := runCmd(t, cmdSecrets, "ghp-value-123\n", "set", "--data", data, "--hosts", "api.github.com", "GH")
	if code != exitOK || !strings.Contains(stderr, "put into request headers;") {
		t.Fatalf("secrets set without --inject: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCmd(t, cmdSecrets, "up-value-1234\n", "set", "--data", data, "--hosts", "up.example.com", "--inject", "body,headers", "UP")
	if code != exitOK || !strings.Contains(stderr, "put into request headers, body;") {
		t.Fatalf("secrets set --inject body,headers: exit %d, stderr %q", code, stderr)
	}
	for _, bad := range [][]string{{"--hosts", "x.example.com", "--inject", "cookies"}, {"--inject", "url"}} {
		code, _, stderr := runCmd(t, cmdSecrets, "value-123456", append(append([]string{"set", "--data", data}, bad...), "BAD")...)
		if code != exitUsage || !strings.Contains(stderr, "--inject") {
			t.Errorf("secrets set %q: exit %d, stderr %q; want a usage error", bad, code, stderr)
		}
	}
	code, out, _ := runCmd(t, cmdSecrets, "", "list", "--data", data)
	if code != exitOK || !regexp.MustCompile(`GH\s+api.github.com\s+headers\s`).MatchString(out) ||
		!regexp.MustCompile(`UP\s+up.example.com\s+headers,body\s`).MatchString(out) || strings.Contains(out, "BAD") {
		t.Errorf("secrets list: exit %d, stdout %q; want GH headers, UP headers,body, no BAD", code, out)
	}
}
