package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox"
)

// check is one line of the deployment checklist.
type check struct {
	name   string
	level  string // "ok", "warn" or "FAIL"
	detail string // what was found and, when not ok, what to do
}

func cmdDoctor(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("doctor", `Usage: bulwark doctor [--data DIR] [--database-url URL]

Checks this host and configuration against the deployment checklist (the
sandbox, the user it runs as, the master key, the store, the audit log, file
modes, the settings) and says what to do about each problem. Exits 1 when a
check fails; running as root fails where the sandbox does not need root
(BULWARK_ALLOW_ROOT=1 keeps root by choice, warned).

With a PostgreSQL store (--database-url or BULWARK_DATABASE_URL) it checks
the connection, that the master key (BULWARK_MASTER_KEY or
BULWARK_MASTER_KEY_FILE) opens the stored data keys, and that the database's
schema version is this bulwark's: a node running an older bulwark than the
one that migrated the database fails. Doctor never migrates a database.

Example:
  BULWARK_DATA=/var/lib/bulwark bulwark doctor`)
	where := addStoreFlags(fs)
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	if fs.NArg() > 0 {
		return fail(s, usagef("doctor: unexpected argument %q", fs.Arg(0)))
	}
	checks := doctor(ctx, *where)
	failed, warned := 0, 0
	for _, c := range checks {
		fmt.Fprintf(s.out, "%-4s  %-22s %s\n", c.level, c.name, c.detail)
		switch c.level {
		case "FAIL":
			failed++
		case "warn":
			warned++
		}
	}
	warnings := ""
	switch warned {
	case 0:
	case 1:
		warnings = ", 1 with a warning to read above"
	default:
		warnings = fmt.Sprintf(", %d with warnings to read above", warned)
	}
	if failed > 0 {
		fmt.Fprintf(s.out, "\n%d of %d checks failed%s\n", failed, len(checks), warnings)
		return exitFailed
	}
	fmt.Fprintf(s.out, "\nall %d checks passed%s\n", len(checks), warnings)
	return exitOK
}

// doctor runs the checklist: the seeds' deployment promises, each checked
// on this host and configuration rather than taken on trust.
func doctor(ctx context.Context, where storeFlags) []check {
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

	out = append(out, userCheck(sandbox.Check()))
	for _, w := range sandbox.UIDRangeClashes() {
		add("sandbox uids", "warn", w)
	}
	if sandbox.LimitsOff() && !sandbox.Disabled() {
		add("sandbox limits", "warn", strings.TrimPrefix(sandbox.LimitsOffWarning, "WARNING: ")+"; delegate a cgroup instead (bulwark sandbox check says how) and unset it")
	}

	switch on, ok := parseOnOff(env("BULWARK_WORKSPACE_EXEC")); {
	case !ok:
		add("workspace exec", "warn", fmt.Sprintf("BULWARK_WORKSPACE_EXEC=%q is neither on nor off: the workspace stays noexec; set on or off", env("BULWARK_WORKSPACE_EXEC")))
	case on:
		add("workspace exec", "warn", "BULWARK_WORKSPACE_EXEC=on: programs the agent writes to the workspace run in the sandbox, "+
			"which widens the command allowlist to whatever it writes; unset it unless tasks must compile and run their own programs")
	default:
		add("workspace exec", "ok", "off: programs written to the workspace do not run")
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

	switch in, err := secretsInSandbox(); {
	case err != nil:
		add("secrets", "FAIL", userMessage(err))
	case in:
		add("secrets", "warn", secretsInSandboxVar+"=on: secrets not bound to hosts are put into sandboxed code, where only output masking guards them; bind them (bulwark secrets set NAME --hosts ...) and unset it")
	default:
		add("secrets", "ok", "never enter the sandbox: bound secrets go in through the egress proxy, unbound ones are refused to code")
	}

	switch inj, err := readInjectionSettings(io.Discard, "", ""); {
	case err != nil:
		add("taint", "FAIL", userMessage(err))
	case inj.taint == bulwark.TaintOff:
		add("taint", "warn", "BULWARK_TAINT=off: text the guard flags as prompt injection does not make a task ask before actions with side effects; unset it, or set source")
	case inj.taint == bulwark.TaintSource:
		add("taint", "ok", "source: any untrusted text a task reads makes its actions with side effects wait for a person")
	default:
		add("taint", "ok", "detected: text the guard flags makes a task's actions with side effects wait for a person (BULWARK_TAINT=source: any untrusted text does)")
	}

	switch servers, err := operatorMCP(); {
	case err != nil:
		add("MCP servers", "FAIL", userMessage(err))
	case len(servers.Servers) == 0:
		add("MCP servers", "ok", "none for every task ("+mcpConfigVar+" unset); tenants may add their own")
	default:
		detail := fmt.Sprintf("%s gives every task: %s", mcpConfigVar, mcpNames(servers))
		if r := sandbox.Check(); !r.OK() && !sandbox.Disabled() && hasStdio(servers) {
			add("MCP servers", "FAIL", detail+"; but the sandbox cannot run, so its command servers are refused: "+r.Problem())
		} else {
			add("MCP servers", "ok", detail)
		}
	}

	switch cfg, err := searchOptions(); {
	case err != nil:
		add("web search", "FAIL", userMessage(err))
	case !cfg.Configured():
		add("web search", "ok", "off (no web_search): set BULWARK_SEARCH_URL or a search backend's key to offer it")
	default:
		add("web search", "ok", "web_search asks "+cfg.Host())
	}

	switch skills, err := operatorSkills(nil); {
	case err != nil:
		add("skills", "FAIL", userMessage(err))
	case len(skills) == 0:
		add("skills", "ok", "none for every task ("+skillsDirVar+" unset); tenants may add their own")
	default:
		add("skills", "ok", fmt.Sprintf("%s offers every task %d skills", skillsDirVar, len(skills)))
	}

	data, err := dataDir(where.data)
	if err != nil {
		add("data folder", "FAIL", userMessage(err))
		return out
	}
	if fi, err := os.Stat(data); err == nil && fi.Mode().Perm()&0o077 != 0 {
		add("data folder", "FAIL", fmt.Sprintf("%s has mode %v: others can read it; chmod 700 %s", data, fi.Mode().Perm(), data))
	} else {
		add("data folder", "ok", data+" is private (0700)")
	}

	u, urlErr := where.databaseURL()
	switch {
	case env("BULWARK_MASTER_KEY") != "":
		add("master key", "ok", "from BULWARK_MASTER_KEY, not stored with the data")
	case env("BULWARK_MASTER_KEY_FILE") != "" && !within(env("BULWARK_MASTER_KEY_FILE"), data):
		add("master key", "ok", "from "+env("BULWARK_MASTER_KEY_FILE")+", apart from the data")
	case credentialKeyPath() != "":
		add("master key", "ok", "from the systemd credential "+masterKeyCredential+", apart from the data")
	case u != "" && env("BULWARK_MASTER_KEY_FILE") == "":
		add("master key", "FAIL", userMessage(errNoPostgresKey))
	default:
		add("master key", "warn", "kept in the data folder: whoever copies the folder can decrypt it; move it and set BULWARK_MASTER_KEY_FILE")
	}
	if warning := passwordInFlag("--database-url", where.url); warning != "" {
		add("database password", "warn", strings.TrimPrefix(warning, "WARNING: "))
	}
	if urlErr != nil {
		add("store", "FAIL", userMessage(urlErr))
	} else if u != "" {
		out = append(out, postgresChecks(ctx, storeLocation{dir: data, url: u})...)
	} else if db, _, err := openStore(ctx, where, io.Discard); err != nil {
		add("store", "FAIL", userMessage(err))
	} else {
		add("store", "ok", "opens, and the master key opens its data keys")
		out = append(out, keyAgeCheck(ctx, db, time.Now()))
		db.Close()
	}

	out = append(out, dataFolderCheck(data))
	out = append(out, backupCheck(data, u != "", time.Now()))
	out = append(out, auditChecks(ctx, storeLocation{dir: data, url: u})...)
	return out
}

// auditChecks checks that auditing is on and that the log of the store
// at loc verifies.
func auditChecks(ctx context.Context, loc storeLocation) []check {
	if v := strings.ToLower(env("BULWARK_AUDIT")); v == "off" || v == "false" {
		return []check{{"audit log", "FAIL", "BULWARK_AUDIT=off: nothing is audited; unset it"}}
	}
	data := loc.dir
	_, keyPath := auditPaths(data)
	var out []check
	if loc.postgres() {
		out = append(out, check{"audit signing key", "ok", "kept in PostgreSQL, sealed with the master key"})
	} else if within(keyPath, data) {
		out = append(out, check{"audit signing key", "warn", "kept in the data folder: whoever can rewrite the log may re-sign it; set BULWARK_AUDIT_KEY_FILE elsewhere"})
	} else {
		out = append(out, check{"audit signing key", "ok", "kept apart from the log"})
	}
	// verify finds a record changed (its MAC), not a chain's tail cut
	// with its checkpoints: only a copy out of the storage's reach can
	// (DESIGN.md, "Left open").
	if spec := env("BULWARK_AUDIT_EXPORT"); spec == "" {
		out = append(out, check{"audit export", "warn", "off: whoever can write the audit log's storage can cut a chain's tail with its checkpoints, or put back an older copy, unseen by audit verify; set BULWARK_AUDIT_EXPORT to keep a copy out of their reach"})
	} else {
		out = append(out, check{"audit export", "ok", "on: " + spec})
	}
	reps, err := verifyAudit(ctx, loc)
	if err != nil {
		return append(out, check{"audit log", "FAIL", userMessage(err)})
	}
	if len(reps) == 0 {
		if n := len(tenantNames(ctx, loc.dir, loc.url)); n > 0 {
			return append(out, check{"audit log", "FAIL", userMessage(logGone(loc, n))})
		}
		return append(out, check{"audit log", "ok", "on (no records yet)"})
	}
	var records uint64
	for _, r := range reps {
		if r.Err != nil {
			name := namedChain(tenantNames(ctx, loc.dir, loc.url), r.Chain)
			return append(out, check{"audit log", "FAIL", "the " + name + " is NOT intact: " + r.Err.Error()})
		}
		records += r.Report.Records
	}
	return append(out, check{"audit log", "ok", fmt.Sprintf("on, %d records in %d chains verified", records, len(reps))})
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

// postgresChecks checks a PostgreSQL store: the connection, the schema
// version against this build's, and (only when they are equal, as
// opening a database at an older version would migrate it under the
// nodes that use it) that the store opens with the master key.
func postgresChecks(ctx context.Context, loc storeLocation) []check {
	if _, err := readPoolOptions(); err != nil {
		return []check{{"database", "FAIL", userMessage(err)}}
	}
	raw, err := openRaw(ctx, loc, true)
	if err != nil {
		return []check{{"database", "FAIL", userMessage(err)}}
	}
	version, err := raw.schemaVersion(ctx, raw.DB)
	raw.Close()
	if err != nil {
		return []check{{"database", "FAIL", userMessage(err)}}
	}
	out := []check{{"database", "ok", "connects to " + loc.String()}}
	latest := latestSchema(loc)
	switch {
	case openPostgres == nil || latest == 0:
		return append(out, check{"store", "FAIL", "this build has no PostgreSQL support: it cannot open the database"})
	}
	out = append(out, schemaCheck(version, latest))
	if version != latest {
		return out
	}
	mk, err := postgresMasterKey()
	if err != nil {
		return append(out, check{"store", "FAIL", userMessage(err)})
	}
	db, err := openAt(ctx, loc, mk)
	if err != nil {
		return append(out, check{"store", "FAIL", userMessage(err)})
	}
	defer db.Close()
	return append(out, check{"store", "ok", "opens, and the master key opens its data keys"}, keyAgeCheck(ctx, db, time.Now()))
}

// schemaCheck compares a database's schema version with this build's.
func schemaCheck(version, latest int) check {
	switch {
	case version > latest:
		return check{"schema", "FAIL", fmt.Sprintf("the database is at schema version %d, which a newer bulwark wrote; this node runs an older one (version %d): upgrade it", version, latest)}
	case version < latest:
		return check{"schema", "warn", fmt.Sprintf("the database is at schema version %d; this bulwark migrates it to %d when it opens it, after which nodes running the older bulwark stop: upgrade every node, then run bulwark db migrate (the store was not opened, so its key is not checked)", version, latest)}
	}
	return check{"schema", "ok", fmt.Sprintf("version %d, this bulwark's", version)}
}
