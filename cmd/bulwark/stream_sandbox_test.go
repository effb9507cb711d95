package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunStreamsCommandOutput runs a real sandboxed command from `bulwark
// run`: its first line shows in the terminal while it runs (the command
// waits for the test to see it before it goes on), and a secret it prints
// in pieces, split across the sandbox's reads, is masked in what streams
// as in the result.
func TestRunStreamsCommandOutput(t *testing.T) {
	needSandbox(t)
	data, ws := t.TempDir(), t.TempDir()
	env := []string{"BULWARK_DATA=" + data}
	const value = "streamed-canary-4Kq8Zp2Lw9xV"
	sec := bulwarkCmd(t, env, "secrets", "set", "LEAKY")
	sec.Stdin = strings.NewReader(value + "\n")
	if out, err := sec.CombinedOutput(); err != nil {
		t.Fatalf("secrets set: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(ws, "leak.txt"), []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "s.jsonl")
	// The command prints more than the last 512 bytes the live output
	// holds back for the canary check (DESIGN.md, "A command's live
	// output") after its first line, as one that goes on printing would:
	// the first line shows while it waits.
	cmdline := `head -c 12 leak.txt; sleep 0.3; tail -c +13 leak.txt; echo; echo first-line; printf '%600s' ''; echo; while [ ! -e go ]; do sleep 0.1; done; echo second-line`
	lines := `{"tool_calls": [{"name": "run_shell", "arguments": {"command": "` + cmdline + `"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "streamed"}}]}
`
	if err := os.WriteFile(script, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := bulwarkCmd(t, env, "run", "--model", "replay:"+script, "--workspace", ws, "stream it")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	got := make(chan string)
	go func() {
		defer close(got)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			got <- sc.Text()
		}
	}()
	var all strings.Builder
	released := false
	timeout := time.After(60 * time.Second) // a hang guard, not a speed assertion
	for done := false; !done; {
		select {
		case line, ok := <-got:
			if !ok {
				done = true
				break
			}
			all.WriteString(line + "\n")
			if strings.Contains(line, "│ first-line") && !released {
				if strings.Contains(all.String(), "│ second-line") {
					t.Error("the second line came before the first was seen")
				}
				released = true
				if err := os.WriteFile(filepath.Join(ws, "go"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		case <-timeout:
			t.Fatalf("the run did not end; the first line was seen: %v\n%s", released, all.String())
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("run: %v\n%s", err, all.String())
	}
	if !released || !strings.Contains(all.String(), "│ second-line") {
		t.Errorf("the command's output did not stream:\n%s", all.String())
	}
	for _, leak := range []string{value, value[:12], value[12:]} {
		if strings.Contains(all.String(), leak) {
			t.Errorf("the terminal shows %q of the secret:\n%s", leak, all.String())
		}
	}
}
