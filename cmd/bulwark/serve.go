package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/server"
)

const serveUsage = `Usage: bulwark serve [--addr 127.0.0.1:8080] [--data DIR] [--database-url URL]
                     [--model SPEC] [--tls-cert FILE --tls-key FILE] [--insecure-http]

Serves the HTTP API on --addr (this machine only by default). An address other
machines can reach needs TLS (--tls-cert and --tls-key), or --insecure-http
when a TLS proxy is in front. SIGINT or SIGTERM stop it gracefully.

The store is SQLite in the data folder, or the PostgreSQL database at
--database-url (postgres://USER:PASSWORD@HOST:5432/DATABASE), which several
nodes may share; the master key must then come from BULWARK_MASTER_KEY or
BULWARK_MASTER_KEY_FILE, and the audit log is kept in that database too.
The device key and workspaces stay in the data folder either way.

Make a tenant and its first key with: bulwark tenants create NAME
Environment: BULWARK_DATA, BULWARK_ADDR (--addr), BULWARK_MODEL (--model),
BULWARK_DATABASE_URL (--database-url), BULWARK_DB_MAX_CONNS (10 PostgreSQL
connections), BULWARK_DB_STATEMENT_TIMEOUT (30s), BULWARK_QUEUE_LEASE (1m:
how long a node may be silent before another node takes its tasks over; the
check runs every 30s),
BULWARK_MASTER_KEY(_FILE), BULWARK_RATE_LIMIT (on),
BULWARK_AUDIT (on), BULWARK_METRICS_TOKEN (lets /metrics be read remotely),
BULWARK_MAX_FILE_SIZE (10MiB), BULWARK_ALLOWED_FILE_TYPES (.txt,.md,.csv,...),
BULWARK_STORAGE_QUOTA (1GiB of files per tenant), BULWARK_TENANT_MAX_CONCURRENT (8),
BULWARK_TENANT_MAX_RATE (100/s), BULWARK_TENANT_MAX_BURST (200),
BULWARK_TENANT_MAX_DURATION (1h), BULWARK_TENANT_MAX_STEPS (500),
BULWARK_TENANT_MAX_TOKENS (10000000), BULWARK_TENANT_MAX_COST (100),
BULWARK_TENANT_MAX_OUTPUT (1MiB), BULWARK_SHARED_PROVIDER_KEYS (off; on, or
tenant names), BULWARK_SHARED_LOCAL_MODELS (off; on, or tenant names: ollama
models on the server's OLLAMA_HOST), BULWARK_SHARED_KEY_DAILY_TOKENS (1000000),
BULWARK_SHARED_KEY_DAILY_COST (10), BULWARK_TRUSTED_PROXIES
(CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed),
BULWARK_MAX_STREAMS, BULWARK_MAX_STREAMS_PER_CLIENT, BULWARK_MAX_STREAMS_PER_KEY,
BULWARK_MAX_STREAMS_PER_TENANT (open event streams and long polls: in all, per
client address, per key or session, per tenant: half of all by default),
BULWARK_RESUME (auto: tasks that were running or waiting when the server
stopped, even by a crash, resume by themselves from their last
committed step at the next start, their files as that step left them, no tool
call run twice; manual: they are marked interrupted, for a person to resume or
cancel), BULWARK_MCP_CONFIG (a file of MCP servers, {"mcpServers": ...}, for
every task, beside each tenant's own in its settings),
BULWARK_MIN_SCHEDULE_INTERVAL (1m: the shortest time between two ticks of a
schedule; see 'bulwark help schedules'), BULWARK_TAINT (detected: text the
guard flags taints a task, so that its actions with side effects wait for a
person; source: any untrusted text does, the strongest; off: nothing the
guard finds does, warned; a tenant's settings may choose a stricter mode,
never a weaker one), BULWARK_SPOTLIGHT (delimit: untrusted text between
markers with a random id; datamark: also a marker character between its
words).

Example:
  bulwark tenants create acme > acme.key && bulwark serve --model openai:gpt-4o-mini`

func cmdServe(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("serve", serveUsage)
	addr := fs.String("addr", envOr("BULWARK_ADDR", server.DefaultAddr), "listen on `HOST:PORT`")
	where := addStoreFlags(fs)
	model := fs.String("model", env("BULWARK_MODEL"), "default model `SPEC` for tenants that set none")
	cert := fs.String("tls-cert", "", "TLS certificate `FILE` (PEM)")
	key := fs.String("tls-key", "", "TLS private key `FILE` (PEM)")
	insecure := fs.Bool("insecure-http", false, "allow plain HTTP on an address other machines can reach")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	if fs.NArg() > 0 {
		return fail(s, usagef("serve: unexpected argument %q", fs.Arg(0)))
	}
	lc := server.ListenConfig{Addr: *addr, CertFile: *cert, KeyFile: *key, InsecureHTTP: *insecure}
	warning, err := server.CheckListen(lc)
	if err != nil {
		return fail(s, usagef("serve: %s", err.Error()))
	}
	if warning != "" {
		fmt.Fprintln(s.err, "bulwark: "+warning)
	}
	if err := serve(ctx, lc, *where, *model, s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

func serve(ctx context.Context, lc server.ListenConfig, where storeFlags, model string, s stdio) error {
	rateLimit, err := onOff("BULWARK_RATE_LIMIT", true)
	if err != nil {
		return err
	}
	if !rateLimit {
		fmt.Fprintln(s.err, "bulwark: WARNING: BULWARK_RATE_LIMIT=off: requests are not rate limited (failed logins still are)")
	}
	warnSandboxLimits(s.err)
	rs, err := readRuntimeSettings(s.err)
	if err != nil {
		return err
	}
	files, limits, inSandbox, servers, opSkills, autoResume := rs.files, rs.limits, rs.inSandbox, rs.servers, rs.opSkills, rs.autoResume
	if limits.shared.all || len(limits.shared.tenants) > 0 {
		fmt.Fprintf(s.err, "bulwark: tenants without their own provider key use the server's (BULWARK_SHARED_PROVIDER_KEYS), up to %d tokens and $%.2f a day each\n",
			limits.shared.tokens, limits.shared.cost)
	}
	if strings.HasPrefix(model, "ollama:") && !limits.local.all && !limits.shared.all {
		fmt.Fprintln(s.err, "bulwark: note: the default model is an ollama model, which tenants may use only where BULWARK_SHARED_LOCAL_MODELS (or BULWARK_SHARED_PROVIDER_KEYS) allows them")
	}
	proxies, err := server.ParseTrustedProxies(env("BULWARK_TRUSTED_PROXIES"))
	if err != nil {
		return usagef("BULWARK_TRUSTED_PROXIES: %s", err.Error())
	}
	streams, err := readStreamLimits()
	if err != nil {
		return err
	}
	minSchedule, err := readMinScheduleInterval()
	if err != nil {
		return err
	}
	db, dir, err := openStore(ctx, where, s.err)
	if err != nil {
		return err
	}
	// The terminal's `tasks cancel` tells a task held here from one
	// that a stopped process left by this lock.
	releaseServe, err := holdServeLock(dir)
	if err != nil {
		return err
	}
	defer releaseServe()
	defer db.Close()
	cfg := server.Config{
		Store: db, DefaultModel: model, RateLimitOff: !rateLimit, MaskDownloads: inSandbox,
		OperatorSkills: operatorSkillList(opSkills),
		MetricsToken:   env("BULWARK_METRICS_TOKEN"),
		MaxFileSize:    files.maxSize, AllowedFileTypes: files.types, StorageQuota: files.quota,
		Taint:           rs.injection.taint,
		Ceilings:        limits.ceilings,
		CheckPolicyRule: checkPolicyRule, CheckMCP: checkTenantMCP,
		CheckModel: func(ctx context.Context, tenant bulwark.TenantID, spec string) error {
			return limits.checkLocalModel(ctx, db, tenant, spec)
		},
		TrustedProxies: proxies, StreamLimits: streams, MinScheduleInterval: minSchedule,
	}
	if cfg.DeviceKey, err = loadDeviceKey(filepath.Join(dir, "device.key")); err != nil {
		return err
	}
	// The audit log, which tenants read, is masked with the operator's
	// secrets only: records of a tenant are masked with that tenant's
	// secrets before they reach it (by the server, and by the task's own
	// redactor), never with another tenant's.
	auditRed := secret.NewRedactor()
	if cfg.MetricsToken != "" {
		redactor.Add("BULWARK_METRICS_TOKEN", cfg.MetricsToken)
		auditRed.Add("BULWARK_METRICS_TOKEN", cfg.MetricsToken)
	}
	logger, err := openAuditExporting(ctx, db, dir, auditRed, s, true)
	if err != nil {
		return err
	}
	if logger != nil {
		defer logger.Close()
		cfg.Audit = logger
	}
	quota := tenantQuota(ctx, db, limits.ceilings)
	nodes, err := startCluster(ctx, db, quota)
	if err != nil {
		return err
	}
	defer nodes.close()
	rc := runner.Config{
		Store:   db,
		Audit:   cfg.Audit,
		Dir:     filepath.Join(dir, "workspaces"),
		Prepare: prepareTask(db, model, limits, inSandbox, cfg.Audit, servers, opSkills, rs.injection),
		Quota:   quota,
		// Files of stopped tasks are sealed into the store, their folders
		// removed; while a task runs its folder is plain for the sandbox.
		Artifacts:   db,
		MaxFileSize: files.maxSize,
		// A `bulwark run` on this folder holds a lock while its task runs.
		RunElsewhere: taskRunByCLI(dir),
		// Each step commits what is needed to go on from it.
		Checkpoints: db,
		AutoResume:  autoResume,
		// Cancels and messages for tasks run by another process on this
		// folder (and from `bulwark tasks cancel`) go through the store.
		Controls: db,
	}
	if rc.MaxAgentDepth, err = maxAgentDepth(); err != nil {
		return err
	}
	rc.MaxAgentDepth = runnerDepth(rc.MaxAgentDepth)
	nodes.configure(&rc, &cfg)
	rt := runner.New(rc)
	if err := rt.Start(ctx); err != nil {
		return err
	}
	cfg.Runtime = rt
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	// Schedules fire while the server serves; on a shared database every
	// node runs a scheduler and each tick is claimed by one.
	schedCtx, stopSchedules := context.WithCancel(ctx)
	defer stopSchedules()
	startScheduler(schedCtx, db, rt.Submit, cfg.Audit)
	scheme := "http"
	if lc.CertFile != "" {
		scheme = "https"
	}
	stored := ""
	if u, _ := where.databaseURL(); u != "" {
		stored = ", store " + storeLocation{url: u}.String()
	}
	err = srv.ListenAndServe(ctx, lc, func(a net.Addr) {
		fmt.Fprintf(s.err, "bulwark: serving on %s://%s (data %s%s)\n", scheme, a, dir, stored)
	})
	if err != nil {
		return bulwark.E(bulwark.Unavailable, "serve", err.Error(), err)
	}
	fmt.Fprintln(s.err, "bulwark: stopped")
	return nil
}

// defaultQuota is how many tasks of one tenant run at once where its
// settings say nothing.
const defaultQuota = 4

// tenantQuota reads a tenant's concurrency quota from its settings, within
// the operator's ceiling (settings stored before it was lowered give way).
func tenantQuota(ctx context.Context, db bulwark.SettingsStore, c bulwark.Ceilings) func(bulwark.TenantID) int {
	return func(t bulwark.TenantID) int {
		st, err := db.Settings(ctx, t)
		if err != nil {
			return c.Concurrency(0, defaultQuota)
		}
		return c.Concurrency(st.MaxConcurrent, defaultQuota)
	}
}

// onOff reads a variable that is on/off or true/false.
// readResumeMode reads BULWARK_RESUME: auto (the default) or manual.
func readResumeMode() (auto bool, err error) {
	switch v := env("BULWARK_RESUME"); v {
	case "", "auto":
		return true, nil
	case "manual":
		return false, nil
	default:
		return false, usagef("BULWARK_RESUME=%q: want auto (tasks a stop cut off resume by themselves at the next start) or manual (they wait, interrupted, for a person)", v)
	}
}

func onOff(name string, def bool) (bool, error) {
	switch env(name) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return envBool(name, def)
}
