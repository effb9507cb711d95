package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
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

// auditPaths returns the folder of the audit chains and where their
// signing key lives. The key is kept apart from the log (BULWARK_AUDIT_KEY_FILE
// can move it off the data folder altogether), so that whoever can rewrite
// the log cannot re-sign its checkpoints without it. In the folder,
// audit.log is the system chain (and the whole log of releases that kept
// one chain for every tenant: it verifies as the system chain, and its
// tenants' new records go to their own chains, tenants/TENANT.log).
func auditPaths(data string) (dir, keyPath string) {
	keyPath = env("BULWARK_AUDIT_KEY_FILE")
	if keyPath == "" {
		keyPath = filepath.Join(data, "keys", "audit-signing.key")
	}
	return filepath.Join(data, "audit"), keyPath
}

// openAudit opens the audit log of the store db for appending: with a
// PostgreSQL store, the chains kept in that database (shared by every
// node); otherwise the chains in the files of the data folder data. It
// returns nil, with a warning on s.err, when BULWARK_AUDIT=off.
func openAudit(ctx context.Context, db store, data string, red *secret.Redactor, s stdio) (*audit.Chains, error) {
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
	if pg, ok := db.(sharedAudit); ok {
		return openSharedAudit(ctx, pg, red)
	}
	dir, keyPath := auditPaths(data)
	for _, d := range []string{dir, filepath.Dir(keyPath)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, bulwark.E(bulwark.Unavailable, "openAudit", "cannot create "+d+": "+errText(err), err)
		}
	}
	key, err := audit.LoadOrCreateSigningKey(keyPath)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "openAudit", "the audit signing key "+keyPath+" cannot be used: "+err.Error(), err)
	}
	l, err := audit.OpenChains(ctx, audit.FileDir{Path: dir}, audit.Options{SigningKey: key, Redactor: red})
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "openAudit", "the audit log in "+dir+" cannot be opened: "+err.Error(), err)
	}
	return l, nil
}

// verifyAudit checks every chain of the audit log of the store at loc in
// full: the chains kept in its PostgreSQL database, or those in the files
// of its data folder. It only reads, without taking the writers' lock (a
// running server's too), and returns nil reports when there is no audit
// log yet.
func verifyAudit(ctx context.Context, loc storeLocation) ([]audit.ChainReport, error) {
	if loc.postgres() {
		return verifyPostgresAudit(ctx, loc.url)
	}
	return verifyAuditDir(ctx, loc.dir)
}

// auditPlace names where the audit log of the store at loc is, for
// messages.
func auditPlace(loc storeLocation) string {
	if loc.postgres() {
		return loc.String()
	}
	return loc.dir
}

// verifyAuditDir checks every chain of the data folder in full, reading
// them without taking the writer's lock (a running server's too). It
// returns nil reports when there is no audit log yet.
func verifyAuditDir(ctx context.Context, data string) ([]audit.ChainReport, error) {
	dir, keyPath := auditPaths(data)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if _, err := os.Stat(keyPath); err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "audit verify", "the audit signing key "+keyPath+" is missing: set BULWARK_AUDIT_KEY_FILE to where it is kept", err)
	}
	key, err := audit.LoadOrCreateSigningKey(keyPath)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "audit verify", "the audit signing key "+keyPath+" cannot be used: "+err.Error(), err)
	}
	reps, err := audit.VerifyAll(ctx, audit.FileDir{Path: dir, ReadOnly: true}, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "audit verify", "the audit log cannot be read: "+err.Error(), err)
	}
	return reps, nil
}

// chainName is how the CLI names a chain.
func chainName(c string) string {
	if c == audit.SystemChain {
		return "system chain"
	}
	return "tenant " + c
}

// namedChain is chainName with the tenant's name where the data folder's
// store knows it ("tenant demo (tn_...)"), read with the store opened
// query-only: verifying changes nothing, and a store that cannot be read
// leaves the ids alone.
func namedChain(names map[string]string, c string) string {
	if n, ok := names[c]; ok && c != audit.SystemChain {
		return "tenant " + printable(n) + " (" + c + ")"
	}
	return chainName(c)
}

// tenantNames maps the store's tenant ids to their names (the data
// folder's SQLite database, or the PostgreSQL database at dbURL, read in a
// read-only transaction); nil when the store cannot be read.
func tenantNames(ctx context.Context, data, dbURL string) map[string]string {
	var db *sql.DB
	if dbURL != "" {
		raw, err := openRaw(ctx, storeLocation{dir: data, url: dbURL}, true)
		if err != nil {
			return nil
		}
		db = raw.DB
	} else {
		p := filepath.Join(data, dbFileName)
		if _, err := os.Stat(p); err != nil {
			return nil
		}
		var err error
		if db, err = sql.Open("sqlite", "file:"+p+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(2000)"); err != nil {
			return nil
		}
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT id, name FROM tenants")
	if err != nil {
		return nil
	}
	defer rows.Close()
	names := map[string]string{}
	for rows.Next() {
		var id, name string
		if rows.Scan(&id, &name) == nil {
			names[id] = name
		}
	}
	return names
}

const auditUsage = `Usage:
  bulwark audit verify [--data DIR] [--database-url URL]

verify checks every chain of the audit log in full (each record's hash and
the signed checkpoints) and says which records are intact. It only reads,
so it may run while 'bulwark serve' writes to the log. With SQLite the
audit log is in the data folder; with a PostgreSQL store (--database-url
or BULWARK_DATABASE_URL) it is in that database, and verifying it needs
the master key (BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE), which
seals its signing key.

Example:
  bulwark audit verify --data /var/lib/bulwark
  BULWARK_MASTER_KEY_FILE=/etc/bulwark/master.key bulwark audit verify --database-url postgres://bulwark@db/bulwark`

func cmdAudit(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, auditUsage, s); done {
		return code
	}
	if args[0] != "verify" {
		return fail(s, usagef("audit: unknown subcommand %q: verify (see 'bulwark help audit')", args[0]))
	}
	fs := newFlagSet("audit verify", auditUsage)
	where := addStoreFlags(fs)
	if err := fs.parse(args[1:], s); err != nil {
		return fail(s, err)
	}
	if fs.NArg() > 0 {
		return fail(s, usagef("audit verify: unexpected argument %q", fs.Arg(0)))
	}
	dbURL, err := where.databaseURL()
	if err != nil {
		return fail(s, err)
	}
	data, err := dataDir(where.data)
	if err != nil {
		return fail(s, err)
	}
	loc := storeLocation{dir: data, url: dbURL}
	reps, err := verifyAudit(ctx, loc)
	if err != nil {
		return fail(s, err)
	}
	if len(reps) == 0 {
		fmt.Fprintf(s.out, "no audit log yet in %s\n", auditPlace(loc))
		return exitOK
	}
	bad := 0
	var records uint64
	names := tenantNames(ctx, data, dbURL)
	for _, r := range reps {
		if r.Err != nil {
			bad++
			fmt.Fprintf(s.err, "bulwark: the audit log of the %s is NOT intact: %s\n", namedChain(names, r.Chain), r.Err)
			fmt.Fprintf(s.out, "%s: %d records verified before the problem\n", namedChain(names, r.Chain), r.Report.Records)
			continue
		}
		records += r.Report.Records
		fmt.Fprintf(s.out, "%s: %d records, %d signed checkpoints covering %d records, head %s\n",
			namedChain(names, r.Chain), r.Report.Records, r.Report.Checkpoints, r.Report.Signed, r.Report.Head)
	}
	if bad > 0 {
		return exitFailed
	}
	fmt.Fprintf(s.out, "audit log intact: %d chains, %d records\n", len(reps), records)
	return exitOK
}

// auditAdmin appends one record of an administrative change (a secret set,
// a key rotated) to the audit log of the store db (see openAudit; data is
// the data folder). Secret values never reach it: callers give names
// only.
func auditAdmin(ctx context.Context, db store, data string, s stdio, r audit.Record) error {
	l, err := openAudit(ctx, db, data, redactor, s)
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
