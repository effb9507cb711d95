package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/secret"
)

func init() {
	register("audit", "check the audit log: audit verify [--data DIR]", cmdAudit)
}

// auditPaths returns where the audit log and its signing key live. The key
// is kept apart from the log (BULWARK_AUDIT_KEY_FILE can move it off the
// data folder altogether), so that whoever can rewrite the log cannot
// re-sign its checkpoints without it.
func auditPaths(data string) (logPath, keyPath string) {
	keyPath = env("BULWARK_AUDIT_KEY_FILE")
	if keyPath == "" {
		keyPath = filepath.Join(data, "keys", "audit-signing.key")
	}
	return filepath.Join(data, "audit", "audit.log"), keyPath
}

// openAudit opens the audit log of the data folder for appending. It
// returns nil, with a warning on w, when BULWARK_AUDIT=off.
func openAudit(ctx context.Context, data string, red *secret.Redactor, s stdio) (*audit.Log, error) {
	on, err := envBool("BULWARK_AUDIT", true)
	if v := env("BULWARK_AUDIT"); v == "on" || v == "off" {
		on, err = v == "on", nil
	}
	if err != nil {
		return nil, err
	}
	if !on {
		fmt.Fprintln(s.err, "bulwark: WARNING: BULWARK_AUDIT=off: nothing this run does is audited")
		return nil, nil
	}
	logPath, keyPath := auditPaths(data)
	for _, dir := range []string{filepath.Dir(logPath), filepath.Dir(keyPath)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, bulwark.E(bulwark.Unavailable, "openAudit", "cannot create "+dir+": "+errText(err), err)
		}
	}
	key, err := audit.LoadOrCreateSigningKey(keyPath)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "openAudit", "the audit signing key "+keyPath+" cannot be used: "+err.Error(), err)
	}
	store, err := audit.OpenFile(logPath)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "openAudit", "the audit log "+logPath+" cannot be opened: "+err.Error(), err)
	}
	l, err := audit.NewLog(ctx, store, audit.Options{SigningKey: key, Redactor: red})
	if err != nil {
		store.Close()
		return nil, bulwark.E(bulwark.Unavailable, "openAudit", "the audit log "+logPath+" cannot be read: "+err.Error(), err)
	}
	return l, nil
}

func cmdAudit(ctx context.Context, args []string, s stdio) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(s.err, "Usage: bulwark audit verify [--data DIR]")
		return exitUsage
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(s.err)
	dataFlag := fs.String("data", "", "data `DIR` (default $BULWARK_DATA or ./bulwark-data)")
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	data, err := dataDir(*dataFlag)
	if err != nil {
		return fail(s, err)
	}
	logPath, keyPath := auditPaths(data)
	if _, err := os.Stat(logPath); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(s.out, "no audit log yet in %s\n", data)
		return exitOK
	}
	if _, err := os.Stat(keyPath); err != nil {
		return fail(s, bulwark.E(bulwark.Unavailable, "audit verify", "the audit signing key "+keyPath+" is missing: set BULWARK_AUDIT_KEY_FILE to where it is kept", err))
	}
	key, err := audit.LoadOrCreateSigningKey(keyPath)
	if err != nil {
		return fail(s, bulwark.E(bulwark.Unavailable, "audit verify", "the audit signing key "+keyPath+" cannot be used: "+err.Error(), err))
	}
	store, err := audit.OpenFileReadOnly(logPath)
	if err != nil {
		return fail(s, bulwark.E(bulwark.Unavailable, "audit verify", "the audit log cannot be opened: "+err.Error(), err))
	}
	defer store.Close()
	rep, err := audit.Verify(ctx, store, key.Public().(ed25519.PublicKey))
	if err != nil {
		var p *audit.Problem
		if errors.As(err, &p) {
			fmt.Fprintf(s.err, "bulwark: the audit log is NOT intact: %s\n", p.Error())
			fmt.Fprintf(s.out, "%d records verified before the problem\n", rep.Records)
			return exitFailed
		}
		return fail(s, bulwark.E(bulwark.Unavailable, "audit verify", "the audit log cannot be read: "+err.Error(), err))
	}
	fmt.Fprintf(s.out, "audit log intact: %d records, %d signed checkpoints covering %d records, head %s\n",
		rep.Records, rep.Checkpoints, rep.Signed, rep.Head)
	return exitOK
}

// auditAdmin appends one record of an administrative change (a secret set,
// a key rotated) to the data folder's audit log. Secret values never reach
// it: callers give names only.
func auditAdmin(ctx context.Context, dataFlag string, s stdio, r audit.Record) error {
	data, err := dataDir(dataFlag)
	if err != nil {
		return err
	}
	l, err := openAudit(ctx, data, redactor, s)
	if err != nil || l == nil {
		return err
	}
	if r.Actor == "" {
		r.Actor = "cli"
	}
	if err := l.Append(ctx, r); err != nil {
		l.Close()
		return bulwark.E(bulwark.Unavailable, "auditAdmin", "the change was made but its audit record could not be written", err)
	}
	return l.Close()
}
