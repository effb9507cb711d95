package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each setting that forbids unprivileged user namespaces is named with
// the sysctl to change; a host that allows them has no problem.
var usernsTests = []struct {
	name  string
	files map[string]string
	want  []string // one problem each, naming its sysctl
}{
	{"allowed", map[string]string{"user/max_user_namespaces": "63000\n", "kernel/unprivileged_userns_clone": "1\n", "kernel/apparmor_restrict_unprivileged_userns": "0\n"}, nil},
	{"no sysctls at all", nil, nil},
	{"debian clone off", map[string]string{"kernel/unprivileged_userns_clone": "0\n"}, []string{"kernel.unprivileged_userns_clone=1"}},
	{"none allowed", map[string]string{"user/max_user_namespaces": "0\n"}, []string{"user.max_user_namespaces"}},
	{"ubuntu apparmor", map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1\n"}, []string{"kernel.apparmor_restrict_unprivileged_userns=1): set it to 0, or give bulwark an AppArmor profile that allows 'userns,'"}},
	{"all three", map[string]string{"user/max_user_namespaces": "0", "kernel/unprivileged_userns_clone": "0", "kernel/apparmor_restrict_unprivileged_userns": "1"},
		[]string{"user.max_user_namespaces", "kernel.unprivileged_userns_clone", "kernel.apparmor_restrict_unprivileged_userns"}},
}

func TestUsernsProblems(t *testing.T) {
	for _, tt := range usernsTests {
		dir := t.TempDir()
		for f, v := range tt.files {
			os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
			if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got := usernsProblemsIn(dir)
		if len(got) != len(tt.want) {
			t.Errorf("%s: usernsProblemsIn = %q, want %d problems naming %q", tt.name, got, len(tt.want), tt.want)
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: problem %q, want it to name %q", tt.name, got[i], w)
			}
		}
	}
}

// The largest range of the user, by name or uid, is used; malformed lines,
// other users' lines and ranges from 0 (which would map the host's root)
// are not.
func TestSubordinateRange(t *testing.T) {
	file := filepath.Join(t.TempDir(), "subuid")
	os.WriteFile(file, []byte("alice:100000:65536\nbulwark:200000:1000\n999:300000:70000\nbulwark:0:65536\nbulwark:x:1\nbulwark:400000\n#bulwark:500000:99999\n"), 0o644)
	tests := []struct {
		name string
		id   int
		want idRange
		ok   bool
	}{
		{"bulwark", 999, idRange{300000, 70000}, true},
		{"bulwark", 1000, idRange{200000, 1000}, true},
		{"alice", 1001, idRange{100000, 65536}, true},
		{"carol", 1002, idRange{}, false},
	}
	for _, tt := range tests {
		got, ok := subordinateRange(file, tt.name, tt.id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("subordinateRange(%q, %d) = %v, %v; want %v, %v", tt.name, tt.id, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := subordinateRange(filepath.Join(t.TempDir(), "missing"), "bulwark", 999); ok {
		t.Error("a missing file gave a range")
	}
}

// BULWARK_CGROUP names a cgroup relative to each hierarchy's root: a path
// that climbs out, or names the root, is refused.
func TestDelegatedCgroupName(t *testing.T) {
	for _, bad := range []string{"/", "..", "a/../../b", "a/../b", "./a", "a//b"} {
		t.Setenv(CgroupVar, bad)
		if _, err := sandboxCgroups(); err == nil || !strings.Contains(err.Error(), CgroupVar) {
			t.Errorf("%s=%q: err = %v, want a refusal naming the variable", CgroupVar, bad, err)
		}
	}
	for _, good := range []string{"bulwark", "/bulwark", "system.slice/bulwark.service", "bulwark/"} {
		t.Setenv(CgroupVar, good)
		ctrls, err := sandboxCgroups()
		if err != nil {
			t.Errorf("%s=%q: %v", CgroupVar, good, err)
			continue
		}
		want := "/" + strings.Trim(good, "/")
		for _, c := range ctrls {
			if c.Version != 0 && !strings.HasSuffix(c.Parent, want) {
				t.Errorf("%s=%q: controller %s at %s, want it under %s", CgroupVar, good, c.Name, c.Parent, want)
			}
		}
	}
}

// A user's Bulwark processes must lease their slots in one folder, or two
// of them hand out the same slot (the same subordinate ids and cgroups):
// the folder cannot depend on an environment the processes may not share
// (a service's XDG_RUNTIME_DIR, a shell's TMPDIR).
func TestUserLeaseDirIgnoresEnvironment(t *testing.T) {
	uid := os.Geteuid()
	dirs := map[string]bool{}
	for _, env := range [][2]string{{"", ""}, {t.TempDir(), ""}, {"", t.TempDir()}, {"relative", "/var/tmp"}} {
		t.Setenv("XDG_RUNTIME_DIR", env[0])
		t.Setenv("TMPDIR", env[1])
		dirs[userLeaseDir(uid)] = true
	}
	if len(dirs) != 1 {
		t.Errorf("userLeaseDir(%d) depends on XDG_RUNTIME_DIR and TMPDIR: %v, want one folder", uid, dirs)
	}
}
