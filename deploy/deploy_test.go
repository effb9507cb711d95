package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// unit is a systemd unit file: section, then key, then every value given
// (in order; an empty assignment is kept as "").
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a setting: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// last is the value systemd applies for a single-valued key.
func (u unit) last(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// env is the unit's Environment= assignments.
func (u unit) env() map[string]string {
	out := map[string]string{}
	for _, v := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(v) {
			k, val, _ := strings.Cut(kv, "=")
			out[k] = val
		}
	}
	return out
}

// The promises of bulwark.service: a dedicated user, the cgroup subtree
// delegated and named to bulwark, a read-only system with the data folder
// the one writable place, no capabilities and no privilege gained by
// exec, the socket kinds listed, the master key as a credential under the
// name bulwark reads, never in the environment.
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, "bulwark.service")
	want := map[string]string{
		"User":            "bulwark",
		"Group":           "bulwark",
		"Delegate":        "yes",
		"ProtectSystem":   "strict",
		"ProtectHome":     "yes",
		"PrivateTmp":      "yes",
		"NoNewPrivileges": "yes",
		// Empty: no capability can ever be gained, by setuid programs either.
		"CapabilityBoundingSet": "",
		"AmbientCapabilities":   "",
		"RestrictSUIDSGID":      "yes",
		"StateDirectoryMode":    "0700",
		"UMask":                 "0077",
	}
	for k, w := range want {
		if got, ok := u.last("Service", k); !ok || got != w {
			t.Errorf("[Service] %s = %q (set: %v), want %q", k, got, ok, w)
		}
	}

	fams, _ := u.last("Service", "RestrictAddressFamilies")
	if got := strings.Fields(fams); !slices.Equal(got, []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}) {
		t.Errorf("RestrictAddressFamilies = %q, want exactly AF_UNIX AF_INET AF_INET6 AF_NETLINK", fams)
	}

	env := u.env()
	data := env["BULWARK_DATA"]
	if data == "" || !filepath.IsAbs(data) {
		t.Fatalf("Environment BULWARK_DATA = %q, want an absolute data folder", data)
	}
	rw := u["Service"]["ReadWritePaths"]
	if !slices.ContainsFunc(rw, func(v string) bool { return slices.Contains(strings.Fields(v), data) }) {
		t.Errorf("ReadWritePaths = %q, want the data folder %s", rw, data)
	}
	if sd, _ := u.last("Service", "StateDirectory"); "/var/lib/"+sd != data {
		t.Errorf("StateDirectory = %q, want the data folder %s (systemd makes it, owned by the user)", sd, data)
	}
	for _, k := range []string{"BULWARK_MASTER_KEY", "BULWARK_MASTER_KEY_FILE", "BULWARK_SANDBOX", "BULWARK_SANDBOX_LIMITS"} {
		if _, ok := env[k]; ok {
			t.Errorf("Environment sets %s; the key comes as a credential, the sandbox and its limits stay on", k)
		}
	}
	// Delegate=yes gives the unit's own cgroup; BULWARK_CGROUP names it.
	if got, want := env["BULWARK_CGROUP"], "system.slice/bulwark.service"; got != want {
		t.Errorf("Environment BULWARK_CGROUP = %q, want %q (the unit's cgroup, which Delegate=yes hands over)", got, want)
	}

	// The credential's name is the one bulwark looks for.
	cred, _ := u.last("Service", "LoadCredential")
	name, src, _ := strings.Cut(cred, ":")
	store, err := os.ReadFile("../cmd/bulwark/store.go")
	if err != nil {
		t.Fatal(err)
	}
	if name == "" || !bytes.Contains(store, []byte(`masterKeyCredential = "`+name+`"`)) {
		t.Errorf("LoadCredential = %q: bulwark reads no credential named %q (cmd/bulwark/store.go)", cred, name)
	}
	if !filepath.IsAbs(src) || strings.HasPrefix(src, data) {
		t.Errorf("LoadCredential source %q: want an absolute path outside the data folder", src)
	}

	exe, _ := u.last("Service", "ExecStart")
	if !regexp.MustCompile(` serve --addr 127\.0\.0\.1:\d+$`).MatchString(exe) {
		t.Errorf("ExecStart = %q, want bulwark serve on the loopback (a TLS proxy in front)", exe)
	}
}

// systemd-analyze verify loads the unit (and with the subuids drop-in) as
// systemd would, and any line it prints (an unknown key, a value it cannot
// parse, which it only warns about) fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("deploy: systemd-analyze is not installed: the unit is not verified (apt-get install systemd)")
	}
	// verify wants ExecStart's program to exist: stand one in.
	dir := t.TempDir()
	bin := filepath.Join(dir, "bulwark")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("bulwark.service")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(src), "/usr/local/bin/bulwark", bin)
	if text == string(src) {
		t.Fatal("bulwark.service does not start /usr/local/bin/bulwark")
	}
	verify := func(t *testing.T, dir string) string {
		out, err := exec.Command(sa, "verify", "--man=no", filepath.Join(dir, "bulwark.service")).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			return strings.TrimSpace(string(out)) + " " + errString(err)
		}
		return ""
	}
	write := func(t *testing.T, dir, name, content string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("unit", func(t *testing.T) {
		d := t.TempDir()
		write(t, d, "bulwark.service", text)
		if msg := verify(t, d); msg != "" {
			t.Errorf("systemd-analyze verify bulwark.service: %s", msg)
		}
	})
	t.Run("with subuids.conf", func(t *testing.T) {
		dropIn, err := os.ReadFile("subuids.conf")
		if err != nil {
			t.Fatal(err)
		}
		d := t.TempDir()
		write(t, d, "bulwark.service", text)
		write(t, d, "bulwark.service.d/subuids.conf", string(dropIn))
		if msg := verify(t, d); msg != "" {
			t.Errorf("systemd-analyze verify bulwark.service with subuids.conf: %s", msg)
		}
	})
	// The check catches what it is for: a misspelt setting.
	t.Run("a misspelt setting is caught", func(t *testing.T) {
		d := t.TempDir()
		write(t, d, "bulwark.service", strings.Replace(text, "ProtectSystem=strict", "ProtectSystem=stric", 1))
		if verify(t, d) == "" {
			t.Errorf("systemd-analyze verify passed ProtectSystem=stric; the check would miss a broken unit")
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

// The drop-in changes only what newuidmap needs.
func TestSubuidsDropIn(t *testing.T) {
	u := parseUnit(t, "subuids.conf")
	var keys []string
	for k := range u["Service"] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"CapabilityBoundingSet", "NoNewPrivileges"}) || len(u) != 1 {
		t.Errorf("subuids.conf sets %v in %d sections, want only [Service] CapabilityBoundingSet and NoNewPrivileges", keys, len(u))
	}
	if got, _ := u.last("Service", "CapabilityBoundingSet"); got != "CAP_SETUID CAP_SETGID" {
		t.Errorf("subuids.conf CapabilityBoundingSet = %q, want CAP_SETUID CAP_SETGID only", got)
	}
}
