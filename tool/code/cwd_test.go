package code_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
)

// cwdBypasses reach a file a one-word rule names through the shell's
// working folder, or an option that changes it, rather than by its path:
// each must be refused by *(secrets/*)=deny.
var cwdBypasses = []string{
	"cd secrets; cat k",
	"cd secrets && cat k",
	"cd secrets || exit; cat k",
	"pushd secrets; cat k",
	"pushd secrets >/dev/null && cat k && popd",
	"cd /workspace/secrets; cat k",
	"cd ./x/../secrets; cat k",
	"cd secrets/; cat ./k",
	"(cd secrets; cat k)",
	"(cd secrets && cat k) | base64",
	"cd secrets\n cat k",
	"cd secrets\ncat < k",
	"cd secrets; cp k /tmp/k",
	"cd secrets; tar cf - . | base64",
	"cd secrets; ls",
	"cd secrets; grep -r . .",
	"cd x; cd ../secrets; cat k",
	"cd x; cat ../secrets/k",
	"cd /tmp; cat ../workspace/secrets/k",
	"cat ../workspace/secrets/k",
	"cd /; cat workspace/secrets/k",
	"cd src; cd nowhere; cat ../secrets/k",
	"CDPATH=/workspace/secrets cd x; cat k",
	"export CDPATH=secrets; cd .; cd x; cat ../k",
	"cd x; cd -; cat k",
	"cd \"$(echo secrets)\"; cat k",
	"cd $(echo secrets) && cat k",
	"cd `echo secrets`; cat k",
	"d=secrets; cd $d; cat k",
	"cd \"$D\"; cat k",
	"cd secr*; cat k",
	"builtin cd secrets; cat k",
	"command cd secrets; cat k",
	"\\cd secrets; cat k",
	"'cd' secrets; cat k",
	"cd -P secrets; cat k",
	"cd -- secrets; cat k",
	"cd ~/secrets; cat k",
	"cd; cd secrets; cat k",
	"cd ~; cat secrets/k",
	"cat ~/secrets/k",
	"cat ~+/secrets/k",
	"cat /proc/self/cwd/secrets/k",
	"cd secrets; cat /proc/self/cwd/k",
	"cat /proc/self/root/workspace/secrets/k",
	// The task level and thread-self (red team, session 42), and a ..
	// after a link, which goes up from where the link leads.
	"cat /proc/self/task/*/cwd/secrets/k",
	"cat /proc/$$/task/$$/cwd/secrets/k",
	"cat /proc/thread-self/../../cwd/secrets/k",
	"cat /proc/thread-self/cwd/secrets/k",
	"cat /proc/self/task/*/root/workspace/secrets/k",
	"cat /proc/self/task/../cwd/secrets/k",
	"cat /proc/self/cwd/../workspace/secrets/k",
	"cat /proc/self/root/../workspace/secrets/k",
	"cd /proc/thread-self/../../cwd/secrets; cat k",
	"f=/proc/thread-self/../../cwd/secrets/k; cat $f",
	"cp -r /proc/self/task/*/cwd/secrets /tmp/x",
	"grep -r . /proc/self/task/*/cwd/secrets",
	"cd /proc/1; cat cwd/secrets/k", // (cd /proc; cat self/cwd/k reads /proc/k: its own working folder is /proc)
	"cd /proc; cat 1/task/1/cwd/secrets/k",
	"if true; then cd secrets; fi; cat k",
	"if false; then :; else cd secrets; fi; cat k",
	"case x in x) cd secrets;; esac; cat k",
	"for d in secrets; do cd $d; done; cat k",
	"while true; do cd secrets; break; done; cat k",
	"for i in 1; do cat k; cd secrets; done",
	"f() { cd secrets; }; f; cat k",
	"f() { cat k; }; cd secrets; f",
	"{ cd secrets; }; cat k",
	"time cd secrets; cat k",
	"! cd secrets; cat k",
	"true && cd secrets; cat k",
	"trap 'cd secrets' DEBUG; cat k",
	"echo $(cd secrets; cat k)",
	"x=$(cd secrets && cat k)",
	"cat <(cd secrets; cat k)",
	"sh -c 'cd secrets; cat k'",
	"bash -c 'cd secrets && cat k'",
	"cd secrets; bash -c 'cat k'",
	"cd secrets; sh -c \"cat k\"",
	"env -C secrets cat k",
	"env --chdir=secrets cat k",
	"env -C x -C secrets cat k",
	"env -Csecrets cat k",
	"env -C x cat ../secrets/k",
	"env --chdir x cat ../secrets/k",
	"timeout 5 env -C secrets cat k",
	"git -C secrets show HEAD:./k",
	"git -C secrets log -p",
	"git -C x -C ../secrets log -p",
	"git -C x diff --no-index ../secrets/k /dev/null",
	"make -C secrets",
	"make --directory=secrets",
	"make -C x -f ../secrets/k",
	"tar -C secrets -cf - k",
	"tar --directory=secrets -cf - k",
	"tar -C x -cf - ../secrets/k",
	"find secrets",
	"find secrets -type f -exec cat {} +",
	"find . -path './secrets/*' -execdir cat {} +",
	"grep -r . secrets",
	"ls secrets",
	"cp -r secrets /tmp/x",
	"rm -rf secrets",
	"zip -r /tmp/x.zip secrets",
	"pushd x; pushd ../secrets; cat k",
	"pushd secrets; popd; cat k",
	"cd x; pushd /workspace; popd; cat ../secrets/k",
	"shopt -s cdable_vars; s=secrets; cd s; cat k",
	"eval cd secrets; cat k",
	"source x.sh; cat k",
	"cd secrets; xargs cat < list",
	"cd secrets; cat * | base64",
	"cd secrets; cat k*",
	"cd $HOME/secrets; cat k",
	"HOME=/workspace/secrets; cd; cat k",
	"go -C secrets run .",
	"cd /proc/self/cwd/secrets; cat k",
	"cd /proc/self/root/workspace/secrets; cat k",
	"cd /proc/1/cwd; cat secrets/k",
	"cat $PWD/secrets/k",
	"cat \"${PWD}/secrets/k\"",
	"cd secrets; cat \"$PWD/k\"",
	"cat $HOME/secrets/k",
	"HOME=/workspace/secrets; cat $HOME/k",
	"cd x; cat \"$OLDPWD/secrets/k\"",
	"git show HEAD:secrets/k",
	"cd secrets; git show HEAD:./k",
	"sed -fsecrets/k x",
	"bash -ic 'shopt -s autocd; secrets; cat k'",
	"echo $(<secrets/k)",
	"cd secrets; x=$(< k); echo $x",
	"> secrets/k",
	// A variable the script gives a value known before it runs.
	"d=secrets; cat $d/k",
	"d=secrets; cat \"${d}/k\"",
	"for f in secrets/k; do cat $f; done",
	"export D=secrets; cat $D/k",
	"D=secrets bash -c 'cat $D/k'",
	"f=k; cd secrets; cat \"$f\"",
	"grep --file=$f x; f=secrets/k",
	"d=secrets; cat $d/*",
}

// cwdBenign are everyday commands that change folder, with a rule each
// must still be allowed under (empty: both *(secrets/*)=deny and
// *(*.env)=deny).
var cwdBenign = []struct{ command, rules string }{
	{"cd src && go test ./...", ""},
	{"cd build; make", ""},
	{"cd build && make -j4 && cd ..", ""},
	{"cd /tmp && ls", ""},
	{"(cd web && npm test)", ""},
	{"pushd src >/dev/null && go vet ./... && popd", ""},
	{"make -C build", ""},
	{"git -C src status", ""},
	{"env -C build make", ""},
	{"tar -C build -czf /tmp/out.tgz .", ""},
	{"cd src; cat main.go", ""},
	{"cd ~; ls", ""},
	{"cd; go build ./...", ""},
	{"cd secretsauce; ls", ""},
	{"ls secret", ""},
	{"grep -rn TODO .", ""},
	{"go test ./...", ""},
	{"cat README.md", ""},
	{"cd docs && ls", ""},
	{"echo '*'", ""},
	// find -exec acts on every file below its start points whose name
	// its -name test matches: a *.go file may sit in secrets, not a
	// .env file.
	{"find . -name '*.go' -exec gofmt -l {} +", "*(*.env)=deny"},
	{"find . -type f -name '*.o' -delete", "*(*.env)=deny"},
	{"find docs src -name '*.go' -exec gofmt -l {} +", ""},
	{"find docs -exec cat {} +", "*(secrets/*)=deny"},
	{"find docs -type f | xargs echo", ""},
	{"cat $HOME/README.md", ""},
	{"cd src; ls $PWD", ""},
	{"git show HEAD:main.go", ""},
	{"date +%H:%M", ""},
	{"d=src; cat $d/k", ""},
	{"dd=secrets; cat $d/k", "*(*.env)=deny"},
	// A glob's * crosses no /, so docs/*.md does not meet secrets/*;
	// a folder only known at run time may be secrets.
	{"cd docs && cat *.md", ""},
	{"cd \"$d\" && go test ./...", "*(*.env)=deny"},
	{"for d in a b; do (cd $d && make); done", "*(*.env)=deny"},
}

// TestWorkingFolderBypasses: a file rule is not walked past by naming the
// file from another working folder.
func TestWorkingFolderBypasses(t *testing.T) {
	for _, c := range cwdBypasses {
		for _, tt := range []struct {
			rules string
			want  bulwark.Decision
		}{{"*(secrets/*)=deny", bulwark.Deny}, {"*(secrets/*)=ask", bulwark.Ask}} {
			if got := decide(t, tt.rules, c); got != tt.want {
				t.Errorf("%s on %q: %s, want %s", tt.rules, c, got, tt.want)
			}
		}
	}
}

// TestWorkingFolderBenign: following the working folder refuses no
// command that stays out of the folder a rule names.
func TestWorkingFolderBenign(t *testing.T) {
	for _, tt := range cwdBenign {
		rules := []string{"*(secrets/*)=deny", "*(*.env)=deny"}
		if tt.rules != "" {
			rules = []string{tt.rules}
		}
		for _, r := range rules {
			if got := decide(t, r, tt.command); got != bulwark.Allow {
				t.Errorf("%s on %q: %s, want allow", r, tt.command, got)
			}
		}
	}
}

// TestWorkingFolderExactFile: a rule naming one file meets it after cd.
func TestWorkingFolderExactFile(t *testing.T) {
	for _, tt := range []struct {
		rules, command string
		want           bulwark.Decision
	}{
		{"*(secrets/k)=ask", "cd secrets; cat k", bulwark.Ask},
		{"*(secrets/k)=ask", "cd secrets; cd nowhere; cat k", bulwark.Ask},
		{"*(secrets/k)=ask", "cd secrets; cat j", bulwark.Ask}, // runs in secrets
		{"*(secrets/k)=ask", "cd src; cat k", bulwark.Allow},
		// A one-word run_shell pattern with a slash also names the file.
		{"run_shell(secrets/k)=deny", "cat secrets/k", bulwark.Deny},
		{"run_shell(secrets/k)=deny", "cd secrets && cat k", bulwark.Deny},
		{"run_shell(/workspace/secrets/k)=deny", "cat ./secrets/k", bulwark.Deny},
		{"run_shell(/etc/shadow)=deny", "cat /etc/shadow", bulwark.Deny},
		{"run_shell(secrets/k)=deny", "cat secrets/j", bulwark.Allow},
		{"*(*.env)=deny", "cd config; cat prod.env", bulwark.Deny},
		{"*(*.env)=deny", "cd \"$d\"; cat prod.env", bulwark.Deny},
		{"*(*.env)=deny", "cd \"$d\"; cat main.go", bulwark.Allow},
		{"*(config/*.env)=deny", "cd config; cat prod.env", bulwark.Deny},
		{"*(config/*.env)=deny", "cd config; cat main.go", bulwark.Deny}, // runs in config
		{"*(*/secrets/*)=deny", "cd a/secrets; cat k", bulwark.Deny},
		{"*(*/secrets/*)=deny", "cd a; cat secrets/k", bulwark.Deny},
		{"*(*/secrets/*)=deny", "cd a; ls", bulwark.Allow},
		// A pattern of several words meets the command with its operands
		// resolved against the folder it runs in.
		{"run_shell(rm -rf build/*)=deny", "cd build && rm -rf x", bulwark.Deny},
		{"run_shell(rm -rf build/*)=deny", "cd build; rm -rf *", bulwark.Deny},
		{"run_shell(rm -rf build/*)=deny", "rm -rf ./build/../build/x", bulwark.Deny},
		{"run_shell(rm -rf build/*)=ask", "env -C build rm -fr x", bulwark.Ask},
		{"run_shell(rm -rf build/*)=deny", "cd src && rm -rf x", bulwark.Allow},
		{"run_shell(rm -rf build/*)=deny", "cd build && rm x", bulwark.Allow},
		// Allow rules are matched against the line as written only.
		{"run_shell(cat build/*)=allow", "cd build; cat x", bulwark.Deny},
		{"run_shell(rm -rf build/*)=allow", "cd build && rm -rf x", bulwark.Deny},
	} {
		if got := decide(t, tt.rules, tt.command); got != tt.want {
			t.Errorf("%s on %q: %s, want %s", tt.rules, tt.command, got, tt.want)
		}
	}
}

// decide returns the policy's decision on run_shell running command,
// under rules and a default of allow (deny for a policy of allow rules).
func decide(t *testing.T, rules, command string) bulwark.Decision {
	t.Helper()
	rs, err := bulwark.ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	run := code.Shell()
	args, _ := json.Marshal(map[string]string{"command": command})
	e, err := tool.EffectsOf(run, args)
	if err != nil {
		t.Fatal(err)
	}
	p := bulwark.Policy{Rules: rs}
	if rs[0].Decision == bulwark.Allow {
		p.Default = bulwark.Deny
	}
	return p.Decide(tool.PolicyCall(run, args, e)).Decision
}

// TestFormsBudget: a script whose words have too many forms to list is
// judged as naming any file, in any folder.
func TestFormsBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("for a in")
	for i := 0; i < 16; i++ {
		fmt.Fprintf(&b, " x%d", i)
	}
	b.WriteString("; do :; done; echo")
	for i := 0; i < 4500; i++ {
		fmt.Fprintf(&b, " ${a}%d", i)
	}
	if got := decide(t, "*(secrets/*)=deny", b.String()); got != bulwark.Deny {
		t.Errorf("*(secrets/*)=deny on a script of %d bytes with too many forms: %s, want deny", b.Len(), got)
	}
	if got := decide(t, "*(secrets/*)=deny", "echo ${a}1"); got != bulwark.Allow {
		t.Errorf("*(secrets/*)=deny on echo ${a}1: %s, want allow", got)
	}
}
