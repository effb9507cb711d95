package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/server"
)

func init() {
	register("serve", "serve the HTTP API: serve [--addr HOST:PORT] [--data DIR] [--tls-cert F --tls-key F]", cmdServe)
}

const serveUsage = `Usage: bulwark serve [--addr 127.0.0.1:8080] [--data DIR] [--model SPEC]
                     [--tls-cert FILE --tls-key FILE] [--insecure-http]

Serves the HTTP API on --addr (this machine only by default). An address other
machines can reach needs TLS (--tls-cert and --tls-key), or --insecure-http
when a TLS proxy is in front. SIGINT or SIGTERM stop it gracefully.

Make a tenant and its first key with: bulwark tenants create NAME
Environment: BULWARK_DATA, BULWARK_MASTER_KEY(_FILE), BULWARK_RATE_LIMIT (on),
BULWARK_AUDIT (on), BULWARK_METRICS_TOKEN (lets /metrics be read remotely),
BULWARK_MAX_FILE_SIZE (10MiB), BULWARK_ALLOWED_FILE_TYPES (.txt,.md,.csv,...),
BULWARK_STORAGE_QUOTA (1GiB of files per tenant).`

func cmdServe(ctx context.Context, args []string, s stdio) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(s.err)
	addr := fs.String("addr", envOr("BULWARK_ADDR", server.DefaultAddr), "listen on `HOST:PORT`")
	data := fs.String("data", "", "data `DIR` (default $BULWARK_DATA or ./bulwark-data)")
	model := fs.String("model", env("BULWARK_MODEL"), "default model `SPEC` for tenants that set none")
	cert := fs.String("tls-cert", "", "TLS certificate `FILE` (PEM)")
	key := fs.String("tls-key", "", "TLS private key `FILE` (PEM)")
	insecure := fs.Bool("insecure-http", false, "allow plain HTTP on an address other machines can reach")
	fs.Usage = func() { fmt.Fprintln(s.err, serveUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
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
	if err := serve(ctx, lc, *data, *model, s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

func serve(ctx context.Context, lc server.ListenConfig, dataFlag, model string, s stdio) error {
	rateLimit, err := onOff("BULWARK_RATE_LIMIT", true)
	if err != nil {
		return err
	}
	if !rateLimit {
		fmt.Fprintln(s.err, "bulwark: WARNING: BULWARK_RATE_LIMIT=off: requests are not rate limited (failed logins still are)")
	}
	files, err := readFileSettings()
	if err != nil {
		return err
	}
	db, dir, err := openStore(ctx, dataFlag, s.err)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := registerSecrets(ctx, db); err != nil {
		return err
	}
	cfg := server.Config{
		Store: db, Redactor: redactor, DefaultModel: model, RateLimitOff: !rateLimit,
		MetricsToken: env("BULWARK_METRICS_TOKEN"),
		MaxFileSize:  files.maxSize, AllowedFileTypes: files.types, StorageQuota: files.quota,
	}
	if cfg.MetricsToken != "" {
		redactor.Add("BULWARK_METRICS_TOKEN", cfg.MetricsToken)
	}
	logger, err := openAudit(ctx, dir, redactor, s)
	if err != nil {
		return err
	}
	if logger != nil {
		defer logger.Close()
		cfg.Audit = logger
		logPath, keyPath := auditPaths(dir)
		store, err := audit.OpenFileReadOnly(logPath)
		if err != nil {
			return bulwark.E(bulwark.Unavailable, "serve", "the audit log cannot be opened for reading: "+err.Error(), err)
		}
		defer store.Close()
		key, err := audit.LoadOrCreateSigningKey(keyPath)
		if err != nil {
			return bulwark.E(bulwark.Unavailable, "serve", "the audit signing key "+keyPath+" cannot be used: "+err.Error(), err)
		}
		cfg.AuditStore, cfg.AuditKey = store, key.Public().(ed25519.PublicKey)
	}
	rt := runner.New(runner.Config{
		Store:   db,
		Audit:   cfg.Audit,
		Dir:     filepath.Join(dir, "workspaces"),
		Prepare: prepareTask(db, model),
		Quota:   tenantQuota(ctx, db),
		// Files of stopped tasks are sealed into the store, their folders
		// removed; while a task runs its folder is plain for the sandbox.
		Artifacts:   db,
		MaxFileSize: files.maxSize,
	})
	if err := rt.Start(ctx); err != nil {
		return err
	}
	cfg.Runtime = rt
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	scheme := "http"
	if lc.CertFile != "" {
		scheme = "https"
	}
	err = srv.ListenAndServe(ctx, lc, func(a net.Addr) {
		fmt.Fprintf(s.err, "bulwark: serving on %s://%s (data %s)\n", scheme, a, dir)
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

// tenantQuota reads a tenant's concurrency quota from its settings.
func tenantQuota(ctx context.Context, db bulwark.SettingsStore) func(bulwark.TenantID) int {
	return func(t bulwark.TenantID) int {
		st, err := db.Settings(ctx, t)
		if err != nil || st.MaxConcurrent <= 0 {
			return defaultQuota
		}
		return st.MaxConcurrent
	}
}

// registerSecrets registers every tenant's secrets with the process
// redactor, so that no log line shows one.
func registerSecrets(ctx context.Context, db bulwark.Store) error {
	ts, err := db.ListTenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		vals, err := db.SecretValues(ctx, t.ID)
		if err != nil {
			return err
		}
		for name, v := range vals {
			redactor.Add(string(t.ID)+"."+name, v)
		}
	}
	return nil
}

// onOff reads a variable that is on/off or true/false.
func onOff(name string, def bool) (bool, error) {
	switch env(name) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return envBool(name, def)
}
