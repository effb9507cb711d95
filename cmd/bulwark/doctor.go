package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/sandbox"
)

func init() {
	register("doctor", "check this deployment against the security checklist", cmdDoctor)
}

// check is one line of the deployment checklist.
type check struct {
	name   string
	level  string // "ok", "warn" or "FAIL"
	detail string // what was found and, when not ok, what to do
}

func cmdDoctor(ctx context.Context, args []string, s stdio) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(s.err)
	dataFlag := fs.String("data", "", "data `DIR` (default $BULWARK_DATA or ./bulwark-data)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	checks := doctor(ctx, *dataFlag)
	failed := 0
	for _, c := range checks {
		fmt.Fprintf(s.out, "%-4s  %-22s %s\n", c.level, c.name, c.detail)
		if c.level == "FAIL" {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(s.out, "\n%d of %d checks failed\n", failed, len(checks))
		return exitFailed
	}
	fmt.Fprintf(s.out, "\nall %d checks passed\n", len(checks))
	return exitOK
}

// doctor runs the checklist: the seeds' deployment promises, each checked
// on this host and configuration rather than taken on trust.
func doctor(ctx context.Context, dataFlag string) []check {
	var out []check
	add := func(name, level, detail string) { out = append(out, check{name, level, detail}) }

	switch r := sandbox.Check(); {
	case sandbox.Disabled():
		add("sandbox", "FAIL", "BULWARK_SANDBOX=off: agent code runs unprotected on the host; unset it")
	case !r.OK():
		add("sandbox", "FAIL", r.Problem()+" (bulwark sandbox check tells more)")
	default:
		add("sandbox", "ok", fmt.Sprintf("namespaces, Landlock ABI %d, seccomp and cgroups available", r.LandlockABI))
	}

	for _, f := range []struct{ name, variable, bad, why string }{
		{"workspace confinement", "BULWARK_RESTRICT_TO_WORKSPACE", "false", "file tools reach the whole host"},
		{"rate limiting", "BULWARK_RATE_LIMIT", "off", "no limit on requests"},
	} {
		if v := strings.ToLower(env(f.variable)); v == f.bad || (f.bad == "off" && v == "false") {
			add(f.name, "FAIL", fmt.Sprintf("%s=%s: %s; unset it", f.variable, env(f.variable), f.why))
		} else {
			add(f.name, "ok", "on")
		}
	}

	data, err := dataDir(dataFlag)
	if err != nil {
		add("data folder", "FAIL", userMessage(err))
		return out
	}
	if fi, err := os.Stat(data); err == nil && fi.Mode().Perm()&0o077 != 0 {
		add("data folder", "FAIL", fmt.Sprintf("%s has mode %v: others can read it; chmod 700 %s", data, fi.Mode().Perm(), data))
	} else {
		add("data folder", "ok", data+" is private (0700)")
	}

	switch {
	case env("BULWARK_MASTER_KEY") != "":
		add("master key", "ok", "from BULWARK_MASTER_KEY, not stored with the data")
	case env("BULWARK_MASTER_KEY_FILE") != "" && !within(env("BULWARK_MASTER_KEY_FILE"), data):
		add("master key", "ok", "from "+env("BULWARK_MASTER_KEY_FILE")+", apart from the data")
	default:
		add("master key", "warn", "kept in the data folder: whoever copies the folder can decrypt it; move it and set BULWARK_MASTER_KEY_FILE")
	}
	if db, _, err := openStore(ctx, dataFlag, io.Discard); err != nil {
		add("store", "FAIL", userMessage(err))
	} else {
		db.Close()
		add("store", "ok", "opens, and the master key opens its data keys")
	}

	out = append(out, auditChecks(ctx, data)...)
	return out
}

// auditChecks checks that auditing is on and that the log verifies.
func auditChecks(ctx context.Context, data string) []check {
	if v := strings.ToLower(env("BULWARK_AUDIT")); v == "off" || v == "false" {
		return []check{{"audit log", "FAIL", "BULWARK_AUDIT=off: nothing is audited; unset it"}}
	}
	logPath, keyPath := auditPaths(data)
	var out []check
	if within(keyPath, data) {
		out = append(out, check{"audit signing key", "warn", "kept in the data folder: whoever can rewrite the log may re-sign it; set BULWARK_AUDIT_KEY_FILE elsewhere"})
	} else {
		out = append(out, check{"audit signing key", "ok", "kept apart from the log"})
	}
	if _, err := os.Stat(logPath); err != nil {
		return append(out, check{"audit log", "ok", "on (no records yet)"})
	}
	key, err := audit.LoadOrCreateSigningKey(keyPath)
	if err != nil {
		return append(out, check{"audit log", "FAIL", "the signing key cannot be read: " + err.Error()})
	}
	store, err := audit.OpenFileReadOnly(logPath)
	if err != nil {
		return append(out, check{"audit log", "FAIL", "cannot be opened: " + err.Error()})
	}
	defer store.Close()
	rep, err := audit.Verify(ctx, store, key.Public().(ed25519.PublicKey))
	if err != nil {
		return append(out, check{"audit log", "FAIL", "NOT intact: " + err.Error()})
	}
	return append(out, check{"audit log", "ok", fmt.Sprintf("on, %d records verified", rep.Records)})
}

// within reports whether path lies inside dir.
func within(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return true
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
