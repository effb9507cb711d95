package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/audit/export"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/secret"
)

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
	return openAuditExporting(ctx, db, data, red, s, false)
}

// openAuditExporting is openAudit for a command whose standard output
// may carry the audit export (BULWARK_AUDIT_EXPORT=stdout): serve's.
func openAuditExporting(ctx context.Context, db store, data string, red *secret.Redactor, s stdio, stdout bool) (*audit.Chains, error) {
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
	exp, err := auditExporter(s, stdout)
	switch {
	case err != nil && stdout: // serve: refuse to start without the export asked for
		return nil, err
	case err != nil: // a CLI command: its record matters more than its copy
		fmt.Fprintf(s.err, "bulwark: WARNING: %s: this command's audit records are in the audit log, not in the export\n", redactor.String(userMessage(err)))
	}
	opt := audit.Options{Redactor: red}
	if exp != nil {
		opt.Export = exp
	}
	l, err := openChains(ctx, db, data, opt)
	if err != nil && exp != nil {
		exp.Close(ctx)
	}
	return l, err
}

// openChains opens the audit chains of the store db (see openAudit) with
// opt and the signing key kept for them.
func openChains(ctx context.Context, db store, data string, opt audit.Options) (*audit.Chains, error) {
	if pg, ok := db.(sharedAudit); ok {
		return openSharedAudit(ctx, pg, opt)
	}
	dir, keyPath := auditPaths(data)
	// A log without its key gets no new key: checkpoints signed with one
	// would fork it, and the right key would find them forged (red team,
	// session 42: a folder restored without BULWARK_AUDIT_KEY_FILE set).
	if entries, _ := os.ReadDir(dir); len(entries) > 0 && !fileExists(keyPath) {
		return nil, bulwark.Errorf(bulwark.Unavailable, "openAudit", "the audit signing key %s is missing, though the audit log in %s exists: set BULWARK_AUDIT_KEY_FILE to where it is kept", keyPath, dir)
	}
	for _, d := range []string{dir, filepath.Dir(keyPath)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, bulwark.E(bulwark.Unavailable, "openAudit", "cannot create "+d+": "+errText(err), err)
		}
	}
	key, strict, err := audit.LoadOrCreateSigningKey(keyPath)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "openAudit", "the audit signing key "+keyPath+" cannot be used: "+err.Error(), err)
	}
	opt.SigningKey, opt.StrictMACs = key, strict
	l, err := audit.OpenChains(ctx, audit.FileDir{Path: dir}, opt)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "openAudit", "the audit log in "+dir+" cannot be opened: "+err.Error(), err)
	}
	return l, nil
}

// auditExporter starts the copy of the audit records that
// BULWARK_AUDIT_EXPORT asks for, or returns nil when it is unset. Every
// process that appends to the audit log exports what it appends (in a
// cluster, each node its own records); standard output only when stdout
// is set (serve: the other commands' output is their own, and mcp
// serve's is the protocol), with a warning otherwise. A value that
// cannot be used stops serve from starting; other commands warn and
// append without exporting.
func auditExporter(s stdio, stdout bool) (*export.Exporter, error) {
	spec := env("BULWARK_AUDIT_EXPORT")
	if spec == "" {
		return nil, nil
	}
	t, err := export.Parse(spec)
	if err != nil {
		return nil, usagef("BULWARK_AUDIT_EXPORT=%q: %v", spec, err)
	}
	if t.Kind == "stdout" && !stdout {
		fmt.Fprintln(s.err, "bulwark: BULWARK_AUDIT_EXPORT=stdout exports from 'bulwark serve' only: this command's audit records are in the audit log, not in the export")
		return nil, nil
	}
	e, err := export.New(t, s.out, export.Options{Counters: export.Counters{
		Exported: metrics.AuditExport.Exported.Inc,
		Dropped:  metrics.AuditExport.Dropped.Add,
		Failed:   metrics.AuditExport.Failed.Inc,
	}})
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "openAudit", "BULWARK_AUDIT_EXPORT: the "+t.String()+" cannot be written: "+errText(err), err)
	}
	return e, nil
}

// verifyAudit checks every chain of the audit log of the store at loc in
// full: the chains kept in its PostgreSQL database, or those in the files
// of its data folder. It only reads, without taking the writers' lock (a
// running server's too), and returns nil reports when there is no audit
// log yet.
func verifyAudit(ctx context.Context, loc storeLocation) ([]audit.ChainReport, error) {
	return verifyAuditThen(ctx, loc, nil)
}

// verifyAuditThen is verifyAudit, then, when there is an audit log, then
// with its chains opened read-only (then may be nil).
func verifyAuditThen(ctx context.Context, loc storeLocation, then func(context.Context, audit.Backend) error) ([]audit.ChainReport, error) {
	if loc.postgres() {
		return verifyPostgresAudit(ctx, loc.url, then)
	}
	return verifyAuditDir(ctx, loc.dir, then)
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
func verifyAuditDir(ctx context.Context, data string, then func(context.Context, audit.Backend) error) ([]audit.ChainReport, error) {
	dir, keyPath := auditPaths(data)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if fileExists(keyPath) {
			return nil, auditGone(dir + " does not exist, though the signing key " + keyPath + " made with it does: the audit folder was removed")
		}
		return nil, nil
	}
	if _, err := os.Stat(keyPath); err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "audit verify", "the audit signing key "+keyPath+" is missing: set BULWARK_AUDIT_KEY_FILE to where it is kept", err)
	}
	key, strict, err := audit.LoadOrCreateSigningKey(keyPath)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "audit verify", "the audit signing key "+keyPath+" cannot be used: "+err.Error(), err)
	}
	reps, err := audit.VerifyAll(ctx, audit.FileDir{Path: dir, ReadOnly: true}, audit.KeyOf(key, strict))
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "audit verify", "the audit log cannot be read: "+err.Error(), err)
	}
	if len(reps) == 0 {
		// The system chain is made with the key, when the log is first
		// opened: none at all means its files were removed.
		return nil, auditGone(dir + " holds no chain, though the signing key " + keyPath + " made with them exists: the audit log's files were removed")
	}
	if then != nil {
		return reps, then(ctx, audit.FileDir{Path: dir, ReadOnly: true})
	}
	return reps, nil
}

// auditGone is the failure of a verification that finds the audit log
// removed whole: its signing key, made when the log was first opened,
// says there was one. (A key kept apart with BULWARK_AUDIT_KEY_FILE must
// be this data folder's own.)
func auditGone(why string) error {
	return bulwark.Errorf(bulwark.Conflict, "audit verify", "the audit log is NOT intact: it is gone: %s", why)
}

// logGone is the error of a store that holds tenants (n) but no audit
// log at all: making a tenant records it, so the log, key and all, was
// removed (with PostgreSQL, whoever can write the database can drop its
// audit tables and key), unless it was never kept.
func logGone(loc storeLocation, n int) error {
	return auditGone(fmt.Sprintf("the store has tenants (%d), whose creation the audit log records, but there is no audit log in %s: it was removed, or every process ran with BULWARK_AUDIT=off", n, auditPlace(loc)))
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
  bulwark audit verify [--data DIR] [--database-url URL] [--export FILE]

verify checks every chain of the audit log in full (each record's hash and
MAC, and the signed checkpoints) and says which records are intact. It only reads,
so it may run while 'bulwark serve' writes to the log. With SQLite the
audit log is in the data folder; with a PostgreSQL store (--database-url
or BULWARK_DATABASE_URL) it is in that database, and verifying it needs
the master key (BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE), which
seals its signing key.

--export FILE then checks a copy made by BULWARK_AUDIT_EXPORT (JSON lines,
or syslog messages as a collector stored them, one a line) against the
chains: every record in it must be in its chain unchanged and in the
chain's order. Records the export lacks (dropped, or exported by another
node) are counted, not failed.

Example:
  bulwark audit verify --data /var/lib/bulwark
  bulwark audit verify --data /var/lib/bulwark --export /var/log/bulwark/audit.jsonl
  BULWARK_MASTER_KEY_FILE=/etc/bulwark/master.key bulwark audit verify --database-url postgres://bulwark@db/bulwark`

// macsNote says whether the records' MACs were checked: the verifier had
// the signing key (always, from the data folder or the database), and the
// records of a log begun by a release before MACs may lack one.
func macsNote(reps []audit.ChainReport) string {
	for _, r := range reps {
		if !r.Report.MACs {
			return " (the records' MACs not checked)"
		}
	}
	return ", each record's MAC checked"
}

func cmdAudit(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, auditUsage, s); done {
		return code
	}
	if args[0] != "verify" {
		return fail(s, usagef("audit: unknown subcommand %q: verify (see 'bulwark help audit')", args[0]))
	}
	fs := newFlagSet("audit verify", auditUsage)
	where := addStoreFlags(fs)
	exportFile := fs.String("export", "", "an audit export to check against the chains")
	if err := fs.parse(args[1:], s); err != nil {
		return fail(s, err)
	}
	if fs.NArg() > 0 {
		return fail(s, usagef("audit verify: unexpected argument %q", fs.Arg(0)))
	}
	var checkExport func(context.Context, audit.Backend) error
	var exported *export.CheckReport
	if *exportFile != "" {
		f, err := os.Open(*exportFile)
		if err != nil {
			return fail(s, bulwark.E(bulwark.Invalid, "audit verify", "the export "+*exportFile+" cannot be read: "+errText(err), err))
		}
		defer f.Close()
		checkExport = func(ctx context.Context, b audit.Backend) error {
			rep, err := export.Check(ctx, f, b)
			exported = &rep
			if err != nil {
				return bulwark.E(bulwark.Conflict, "audit verify", "the export "+*exportFile+" does NOT match the audit log: "+err.Error(), err)
			}
			return nil
		}
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
	reps, err := verifyAuditThen(ctx, loc, checkExport)
	if err != nil {
		if exported != nil {
			fmt.Fprintf(s.out, "export: %d records matched before the problem\n", exported.Records)
		}
		return fail(s, err)
	}
	if len(reps) == 0 && *exportFile != "" {
		return fail(s, bulwark.Errorf(bulwark.NotFound, "audit verify", "no audit log in %s to check the export against", auditPlace(loc)))
	}
	names := tenantNames(ctx, data, dbURL)
	if len(reps) == 0 && len(names) > 0 {
		return fail(s, logGone(loc, len(names)))
	}
	if len(reps) == 0 {
		fmt.Fprintf(s.out, "no audit log yet in %s\n", auditPlace(loc))
		return exitOK
	}
	bad := 0
	var records uint64
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
	fmt.Fprintf(s.out, "audit log intact: %d chains, %d records%s\n", len(reps), records, macsNote(reps))
	if exported != nil {
		fmt.Fprintf(s.out, "export matches the audit log: %d records of %d chains, %d missing from it (dropped, or exported by another node), %d repeated\n",
			exported.Records, exported.Chains, exported.Missing, exported.Duplicates)
		if exported.After > 0 {
			fmt.Fprintf(s.out, "  %d records of those chains are newer than the export's last (not exported yet, dropped, another node's, or cut from the copy)\n", exported.After)
		}
	}
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
