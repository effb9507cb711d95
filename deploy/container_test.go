package deploy

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/sandbox"
	"go.yaml.in/yaml/v3"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
}

func parseDockerfile(t *testing.T, path string) [][]instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages [][]instruction
	var cur string
	sc := bufio.NewScanner(f)
	flush := func() {
		line := strings.TrimSpace(cur)
		cur = ""
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before FROM", path, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			cur += rest + " "
			continue
		}
		cur += line
		flush()
	}
	flush()
	return stages
}

// Commands of the default allowlist that debian:bookworm-slim has
// already (bash, coreutils, findutils, grep, sed, mawk, diffutils, tar,
// gzip, debianutils), and the package the Dockerfile must install for
// each of the others.
var (
	inSlimImage = strings.Fields(`bash sh cat ls cp mv rm mkdir rmdir touch ln chmod echo printf head tail
		wc sort uniq cut tr tee date env pwd basename dirname realpath readlink stat du df true false test [
		seq sleep yes id whoami uname md5sum sha1sum sha256sum base64 od comm join paste split fold nl expand
		unexpand tac rev shuf mktemp timeout xargs find grep egrep fgrep sed awk diff cmp tar gzip gunzip zcat
		which nproc expr factor numfmt truncate`)
	fromPackage = map[string]string{"python3": "python3", "node": "nodejs", "file": "file"}
)

// The Dockerfile's promises: built in a stage of its own as a static
// binary, run from a slim image as a user that is not root, with every
// command of the sandbox's default allowlist present.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a run stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	static := slices.ContainsFunc(build, func(in instruction) bool {
		return in.cmd == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") && strings.Contains(in.args, "./cmd/bulwark")
	})
	if !static {
		t.Errorf("the build stage does not build ./cmd/bulwark with CGO_ENABLED=0 (a static binary)")
	}
	if from := final[0].args; strings.Contains(from, "golang") {
		t.Errorf("the run stage is FROM %s: the toolchain does not belong in the image", from)
	}

	var user string
	var installed []string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "RUN":
			for _, cmd := range strings.Split(in.args, "&&") {
				if f := strings.Fields(cmd); len(f) > 2 && f[0] == "apt-get" && f[1] == "install" {
					installed = append(installed, f[2:]...)
				}
			}
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		t.Errorf("the image runs as USER %q, want a user that is not root", user)
	}
	if !slices.ContainsFunc(final, func(in instruction) bool {
		return in.cmd == "ENTRYPOINT" && strings.Contains(in.args, "/usr/local/bin/bulwark")
	}) {
		t.Errorf("the run stage has no ENTRYPOINT starting /usr/local/bin/bulwark")
	}

	for _, cmd := range sandbox.DefaultAllowExec {
		if slices.Contains(inSlimImage, cmd) {
			continue
		}
		pkg, ok := fromPackage[cmd]
		if !ok {
			t.Errorf("the default allowlist names %q, which neither the base image has nor this test knows a package for: install it in the Dockerfile and add it here", cmd)
			continue
		}
		if !slices.Contains(installed, pkg) {
			t.Errorf("the default allowlist names %q, but the Dockerfile does not install %s", cmd, pkg)
		}
	}
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "--privileged") {
		t.Errorf("the Dockerfile mentions --privileged")
	}
}

type composeFile struct {
	Services map[string]struct {
		User        string            `yaml:"user"`
		ReadOnly    bool              `yaml:"read_only"`
		Privileged  bool              `yaml:"privileged"`
		CapAdd      []string          `yaml:"cap_add"`
		CapDrop     []string          `yaml:"cap_drop"`
		SecurityOpt []string          `yaml:"security_opt"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Devices     []string          `yaml:"devices"`
		Pid         string            `yaml:"pid"`
		Network     string            `yaml:"network_mode"`
		Userns      string            `yaml:"userns_mode"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
}

// The runtime options the sandbox needs in a container, each explained in
// compose.yaml and deploy/README.md; anything beyond them fails.
var allowedSecurityOpt = []string{"no-new-privileges:true", "seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"}

// compose.yaml's promises: nothing privileged, no capability added, no
// host namespace, read-only root file systems, Bulwark as a user that is
// not root with every capability dropped, its port on the host's
// loopback only, the master key in a file rather than the environment.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if strings.Contains(string(b), "privileged") && !strings.Contains(string(b), "never privileged") {
		t.Errorf("compose.yaml mentions privileged")
	}
	for _, want := range []string{"bulwark", "postgres"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("compose.yaml has no %s service", want)
		}
	}
	for name, s := range c.Services {
		if s.Privileged || len(s.CapAdd) > 0 || len(s.Devices) > 0 {
			t.Errorf("service %s: privileged %v, cap_add %v, devices %v; want none", name, s.Privileged, s.CapAdd, s.Devices)
		}
		if s.Pid == "host" || s.Network == "host" || s.Userns == "host" {
			t.Errorf("service %s shares a host namespace (pid %q, network %q, userns %q)", name, s.Pid, s.Network, s.Userns)
		}
		if !s.ReadOnly {
			t.Errorf("service %s: read_only is not true", name)
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("service %s: security_opt %v lacks no-new-privileges:true", name, s.SecurityOpt)
		}
		for _, o := range s.SecurityOpt {
			if !slices.Contains(allowedSecurityOpt, o) {
				t.Errorf("service %s: security_opt %q is not one the sandbox needs (%v)", name, o, allowedSecurityOpt)
			}
		}
		for _, v := range s.Volumes {
			if strings.Contains(v, "docker.sock") || strings.HasPrefix(v, "/:") || strings.HasPrefix(v, "/proc") || strings.HasPrefix(v, "/sys") {
				t.Errorf("service %s mounts %q from the host", name, v)
			}
		}
	}

	bw := c.Services["bulwark"]
	if u, _, _ := strings.Cut(bw.User, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("bulwark runs as user %q, want one that is not root", bw.User)
	}
	if !slices.Equal(bw.CapDrop, []string{"ALL"}) {
		t.Errorf("bulwark cap_drop = %v, want [ALL]", bw.CapDrop)
	}
	for _, p := range bw.Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("bulwark publishes %q beyond the host's loopback", p)
		}
	}
	if _, ok := bw.Environment["BULWARK_MASTER_KEY"]; ok {
		t.Errorf("bulwark's environment holds BULWARK_MASTER_KEY; give it as a file")
	}
	if bw.Environment["BULWARK_MASTER_KEY_FILE"] == "" {
		t.Errorf("bulwark's environment does not name BULWARK_MASTER_KEY_FILE")
	}
	if v, ok := bw.Environment["BULWARK_SANDBOX"]; ok && v != "on" {
		t.Errorf("bulwark's environment sets BULWARK_SANDBOX=%s", v)
	}
}
