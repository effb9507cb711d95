package code_test

import (
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// expansionBypasses name a file a rule covers through a shell expansion
// whose text is only known when the script runs, or through standard
// input: each must get the decision of its rule, as the plain command
// (cat secrets/k) does.
var expansionBypasses = []struct{ rules, command string }{
	// Extended globs, on or off: each group may match any name.
	{"*(secrets/k)=deny", "shopt -s extglob; cat secrets/+(k)"},
	{"*(secrets/k)=deny", "cat secrets/@(k|j)"},
	{"*(secrets/k)=deny", "cat secrets/!(x)"},
	{"*(secrets/k)=deny", "cat secrets/*(k)"},
	{"*(secrets/k)=deny", "cat secrets/?(k)"},
	{"*(secrets/k)=deny", "cat < secrets/+(k)"},
	// Parameter expansions with an operator: any text.
	{"*(secrets/k)=deny", "f=SECRETS/K; cat ${f,,}"},
	{"*(secrets/k)=deny", "f=secrets/k; cat ${f,,}"},
	{"*(secrets/k)=deny", "f=secrets/k; cat ${f^^}"},
	{"*(secrets/k)=deny", "f=Secrets/k; cat ${f,}"},
	{"*(secrets/k)=deny", "f=SECRETS/K; cat ${f@L}"},
	{"*(secrets/k)=deny", "f=secrets/k; cat ${f@U}"},
	{"*(secrets/k)=deny", "f=secrets/x; cat ${f/x/k}"},
	{"*(secrets/k)=deny", "f=secrets/kxx; cat ${f:0:9}"},
	{"*(secrets/k)=deny", "f=xsecrets/k; cat ${f#x}"},
	{"*(secrets/k)=deny", "f=secrets/kx; cat ${f%x}"},
	{"*(secrets/k)=deny", "cat ${f:-secrets/k}"},
	{"*(secrets/k)=deny", "cat ${f-secrets}/k"},
	{"*(secrets/k)=deny", "cat ${f:=secrets/k}; cat $f"},
	{"*(secrets/k)=deny", "cat <<< ${f,,}; f=SECRETS/K"},
	// Arrays, attributes and values made of other values.
	{"*(secrets/k)=deny", "a=(secrets k); cat ${a[0]}/${a[1]}"},
	{"*(secrets/k)=deny", "a=(secrets/k); cat $a"},
	{"*(secrets/k)=deny", "a[1]=secrets/k; cat ${a[1]}"},
	{"*(secrets/k)=deny", "a=(x secrets/k); cat \"${a[@]}\""},
	{"*(secrets/k)=deny", "cat ${1:-secrets/k}"},
	{"*(secrets/k)=deny", "f=${1:-secrets}; cat $f/k"},
	{"*(secrets/k)=deny", "cat ${f:+secrets/k}"},
	{"*(secrets/k)=deny", "declare -l f=SECRETS/K; cat $f"},
	{"*(secrets/k)=deny", "typeset -l f; f=SECRETS/K; cat $f"},
	{"*(secrets/k)=deny", "printf -v f 'secret%s/k' s; cat $f"},
	{"*(secrets/k)=deny", "f=secrets/k; g=$f; cat $g"},
	{"*(secrets/k)=deny", "f=secrets; g=$f/k; cat $g"},
	{"*(secrets/k)=deny", "f=sec; f+=rets/k; cat $f"},
	{"*(secrets/k)=deny", "f+=secrets; f+=/k; cat $f"},
	{"*(secrets/k)=deny", "f=secr*; cat $f/k"},
	{"*(secrets/k)=deny", "cat secrets/k$nothing"},
	{"*(secrets/k)=deny", "f=secrets/kxj; IFS=x; cat $f"},
	{"*(secrets/k)=deny", "env f=secrets/k bash -c 'cat $f'"},
	{"*(secrets/k)=deny", "exec 3< secrets/k; cat <&3"},
	// Substitutions and positional parameters beside other text.
	{"*(secrets/k)=deny", "cat secrets/$(printf k)"},
	{"*(secrets/k)=deny", "cat `echo secret`s/k"},
	{"*(secrets/k)=deny", "cat secrets/k$((0))"},
	{"*(secrets/k)=deny", "f() { cat \"$1$2\"; }; f secret s/k"},
	{"*(secrets/k)=deny", "echo s; cat secret$_/k"},
	// Here-strings and here-documents: words a command may read.
	{"*(secrets/*)=deny", "xargs cat <<< secrets/k"},
	{"*(secrets/*)=ask", "xargs cat <<< secrets/k"},
	{"*(secrets/*)=deny", "xargs cat <<< 'x secrets/k'"},
	{"*(secrets/*)=deny", "xargs cat <<EOF\nsecrets/k\nEOF"},
	{"*(secrets/*)=deny", "xargs cat <<'EOF'\nsecrets/k\nEOF"},
	{"*(secrets/*)=deny", "xargs cat <<-EOF\n\tsecrets/k\n\tEOF"},
	{"*(secrets/*)=deny", "xargs -a /dev/stdin cat <<< secrets/k"},
	{"*(secrets/k)=deny", "xargs cat <<EOF\nsecret$(echo s)/k\nEOF"},
	{"*(secrets/*)=deny", "cat $(cat) <<< secrets/k"},
	{"*(secrets/*)=deny", "while read f; do cat $f; done <<< secrets/k"},
	{"*(secrets/*)=deny", "{ read f; cat $f; } <<< secrets/k"},
	{"*(secrets/*)=deny", "read f <<< secrets/k; cat $f"},
	{"*(secrets/*)=deny", "mapfile -t a <<< secrets/k; cat ${a[0]}"},
	{"*(secrets/*)=deny", "python3 - <<EOF\nprint(open('secrets/k').read())\nEOF"},
	{"*(secrets/*)=deny", "tar -cf - -T - <<< secrets"},
	{"*(secrets/*)=deny", "rsync --files-from=- . /tmp/x <<< secrets/k"},
}

// expansionBenign are everyday commands with expansions and standard
// input, each allowed under every rule of its list.
var expansionBenign = []struct{ command, rules string }{
	{"ls *.md", "*(secrets/k)=deny;*(*.env)=deny"},
	{"go test ./...", "*(secrets/*)=deny;*(*.env)=deny"},
	{"cat README.md", "*(secrets/*)=deny;*(*.env)=deny"},
	{"grep -r TODO src", "*(secrets/*)=deny;*(*.env)=deny"},
	{"f=out.txt; echo hi > $f", "*(secrets/*)=deny;*(*.env)=deny"},
	{"cat > notes.md <<'EOF'\n# Notes\nRun go test ./... before pushing.\nEOF", "*(secrets/*)=deny;*(*.env)=deny"},
	{"git commit -F - <<'EOF'\nFix the parser\n\nExplain why.\nEOF", "*(secrets/*)=deny;*(*.env)=deny"},
	{"cat > version.go <<EOF\npackage main\nconst v = \"$(git describe)\"\nvar x = map[string]int{\"a\": 1}\nEOF", "*(secrets/*)=deny;*(*.env)=deny"},
	{"cat > f <<EOF\nport=${PORT:-8080}\nbuilt $(date)\nEOF", "*(secrets/*)=deny;*(*.env)=deny"},
	{"python3 - <<'EOF'\nprint('hello')\nEOF", "*(secrets/*)=deny;*(*.env)=deny"},
	{"xargs -n1 echo <<< 'a b c'", "*(secrets/*)=deny;*(*.env)=deny"},
	{"while IFS= read -r line; do echo \"$line\"; done < list.txt", "*(secrets/*)=deny;*(*.env)=deny"},
	{"for f in *.go; do gofmt -l \"$f\"; done", "*(*.env)=deny"},
	{"for f in *.go; do mv -- \"$f\" \"${f%.go}.txt\"; done", "*(*.env)=deny"},
	{"f() { go test \"$@\"; }; f ./...", "*(secrets/*)=deny;*(*.env)=deny"},
	{"echo \"${HOME}/x\"", "*(secrets/*)=deny;*(*.env)=deny"},
	{"echo \"$(git rev-parse HEAD)\"", "*(secrets/*)=deny;*(*.env)=deny"},
	{"go build -o \"${OUT:-bin/x}\" ./cmd/x", "*(secrets/*)=deny;*(*.env)=deny"},
	{"a=(one two); echo \"${a[@]}\"", "*(secrets/*)=deny;*(*.env)=deny"},
	{"set -- a b; echo \"$1\" \"$@\"", "*(secrets/*)=deny;*(*.env)=deny"},
	{"d=build; mkdir -p -- \"$d\" && cp -- main \"$d/\"", "*(secrets/*)=deny;*(*.env)=deny"},
}

// TestExpansionBypasses: a rule naming a file is not walked past by
// spelling the name through an expansion or feeding it on standard input.
func TestExpansionBypasses(t *testing.T) {
	for _, tt := range expansionBypasses {
		want := bulwark.Deny
		if strings.HasSuffix(tt.rules, "=ask") {
			want = bulwark.Ask
		}
		if got := decide(t, tt.rules, tt.command); got != want {
			t.Errorf("%s on %q: %s, want %s", tt.rules, tt.command, got, want)
		}
	}
}

// TestExpansionBenign: reading expansions and standard input refuses no
// everyday command that names no file a rule covers.
func TestExpansionBenign(t *testing.T) {
	for _, tt := range expansionBenign {
		for _, r := range strings.Split(tt.rules, ";") {
			if got := decide(t, r, tt.command); got != bulwark.Allow {
				t.Errorf("%s on %q: %s, want allow", r, tt.command, got)
			}
		}
	}
}
