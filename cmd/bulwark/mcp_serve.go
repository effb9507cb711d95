package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/server"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const mcpUsage = `Usage:
  bulwark mcp serve [--model SPEC] [--data DIR] [--database-url URL]

serve speaks the Model Context Protocol on stdin and stdout, for an MCP
client that starts it (Claude Desktop, Cursor, the MCP inspector): it
offers the tools create_task, get_task, list_tasks, cancel_task,
send_message, list_approvals and decide_approval, and each task's
transcript and files as resources, all in the local tenant (the one
'bulwark run' works in), as its owner. Tasks run in this process, as
'bulwark serve' runs them (sandbox, policy, limits, audit, the tenant's
settings and secrets); they stop when the client closes the connection
and resume at the next start. While it runs it is the data folder's task
runtime, as 'bulwark serve' would be: only one of them runs on a folder at
a time. Logs go to stderr.

For a remote client, 'bulwark serve' offers the same over HTTP at /mcp,
with an API key (see the README).

Example (Claude Desktop's claude_desktop_config.json):
  {"mcpServers": {"bulwark": {"command": "/usr/local/bin/bulwark",
    "args": ["mcp", "serve"], "env": {"BULWARK_MODEL": "openai:gpt-4o-mini",
    "OPENAI_API_KEY": "sk-..."}}}}`

func cmdMCP(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, mcpUsage, s); done {
		return code
	}
	if args[0] != "serve" {
		return fail(s, usagef("mcp: unknown subcommand %q: serve (see 'bulwark help mcp')", args[0]))
	}
	fs := newFlagSet("mcp serve", mcpUsage)
	where := addStoreFlags(fs)
	model := fs.String("model", env("BULWARK_MODEL"), "the model `SPEC` of tasks that name none (default $BULWARK_MODEL)")
	if err := fs.parse(args[1:], s); err != nil {
		return fail(s, err)
	}
	if fs.NArg() > 0 {
		return fail(s, usagef("mcp serve: unexpected argument %q", fs.Arg(0)))
	}
	if err := mcpServe(ctx, *where, *model, s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

// mcpServe hosts the task runtime that 'bulwark serve' builds, for the
// local tenant, without an HTTP listener, and serves the MCP server of
// the HTTP API's /mcp over stdio: the same checks, audit records and
// task code paths, with the local tenant's owner as the caller ("cli" in
// the audit log). A runtime of its own, rather than the store's tasks
// alone as 'bulwark tasks' reads them, because tasks it creates must run,
// and be canceled, messaged and approved, while the client waits.
func mcpServe(ctx context.Context, where storeFlags, model string, s stdio) error {
	rs, err := readRuntimeSettings(s.err)
	if err != nil {
		return err
	}
	files, limits, inSandbox, servers, opSkills, autoResume := rs.files, rs.limits, rs.inSandbox, rs.servers, rs.opSkills, rs.autoResume
	db, local, dir, err := openLocalStore(ctx, where, s.err)
	if err != nil {
		return err
	}
	defer db.Close()
	// The local tenant is the operator's own, as for 'bulwark run': its
	// tasks may use the provider keys of this environment
	// (OPENAI_API_KEY, within the daily shared-key budget) and the local
	// model server.
	limits.shared.tenants = shareWith(limits.shared.tenants, local.ID)
	limits.local.tenants = shareWith(limits.local.tenants, local.ID)
	// Two runtimes on one folder would each take the other's tasks for
	// abandoned ones: this one holds the lock 'bulwark serve' holds.
	if servedNow(dir) {
		return bulwark.Errorf(bulwark.Conflict, "mcp serve", "a 'bulwark serve' runs on the data folder %s: connect the MCP client to its /mcp with an API key instead", dir)
	}
	release, err := holdServeLock(dir)
	if err != nil {
		return err
	}
	defer release()
	logger, err := openAudit(ctx, db, dir, secret.NewRedactor(), s)
	if err != nil {
		return err
	}
	cfg := server.Config{
		Store: db, DefaultModel: model, RateLimitOff: true, MaskDownloads: inSandbox,
		OperatorSkills: operatorSkillList(opSkills),
		MaxFileSize:    files.maxSize, AllowedFileTypes: files.types, StorageQuota: files.quota,
		Taint:    rs.injection.taint,
		Ceilings: limits.ceilings, CheckPolicyRule: checkPolicyRule, CheckMCP: checkTenantMCP,
		CheckModel: func(ctx context.Context, tenant bulwark.TenantID, spec string) error {
			return limits.checkLocalModel(ctx, db, tenant, spec)
		},
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
		Store: db, Audit: cfg.Audit, Dir: filepath.Join(dir, "workspaces"),
		Prepare: prepareTask(db, model, limits, inSandbox, cfg.Audit, servers, opSkills, rs.injection),
		Quota:   quota, Artifacts: db, MaxFileSize: files.maxSize,
		RunElsewhere: taskRunByCLI(dir), Checkpoints: db, AutoResume: autoResume, Controls: db,
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
	defer func() {
		// The client went away: running tasks stop at a safe point and
		// resume at the next start (BULWARK_RESUME).
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		rt.Shutdown(sctx)
	}()
	cfg.Runtime = rt
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "/mcp", nil)
	if err != nil {
		return err
	}
	owner := server.Principal{Tenant: local.ID, Role: bulwark.RoleOwner}
	fmt.Fprintf(s.err, "bulwark: MCP server on stdio, tenant %s (data %s)\n", local.Name, dir)
	// The client's lines go through mcpLines, which answers those the
	// SDK would end the connection at.
	out := &lockedWriter{w: s.out}
	var t mcp.Transport = &mcp.IOTransport{Reader: newMCPLines(s.in, out), Writer: out}
	if err := srv.MCPServer(r, owner, "cli").Run(ctx, t); err != nil && ctx.Err() == nil && !isEOF(err) {
		return bulwark.E(bulwark.Unavailable, "mcp serve", "the MCP connection failed: "+errText(err), err)
	}
	return nil
}

// shareWith adds tenant to a share list.
func shareWith(m map[string]bool, tenant bulwark.TenantID) map[string]bool {
	out := map[string]bool{string(tenant): true}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// isEOF reports whether err is the client closing the connection.
func isEOF(err error) bool { return errors.Is(err, io.EOF) }
