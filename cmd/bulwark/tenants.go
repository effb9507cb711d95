package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/server"
)

const tenantsUsage = `Usage:
  bulwark tenants create NAME [--data DIR]
  bulwark tenants list [--data DIR]
  bulwark tenants operator-key [--name NAME] [--data DIR]

create makes a tenant and prints its first API key (role owner) on stdout,
one line starting bwk_, and nothing else: keep it, it is shown only once.
operator-key prints an operator key: it may list and create tenants through
the API (GET|POST /api/v1/tenants) and nothing else. Both work while
'bulwark serve' runs on the same data folder.

Example:
  bulwark tenants create acme > acme.key`

func cmdTenants(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, tenantsUsage, s); done {
		return code
	}
	sub := args[0]
	fs := newFlagSet("tenants "+sub, tenantsUsage)
	where := addStoreFlags(fs)
	name := fs.String("name", "operator", "the operator key's `NAME`")
	pos, err := fs.parseMixed(args[1:], s)
	if err != nil {
		return fail(s, err)
	}
	if err := runTenants(ctx, sub, pos, *where, *name, s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

func runTenants(ctx context.Context, sub string, pos []string, where storeFlags, keyName string, s stdio) error {
	switch sub {
	case "create":
		if len(pos) != 1 {
			return usagef("tenants create: give one tenant NAME")
		}
	case "list", "operator-key":
		if len(pos) > 0 {
			return usagef("tenants %s: unexpected argument %q", sub, pos[0])
		}
	default:
		return usagef("tenants: unknown subcommand %q: create, list or operator-key", sub)
	}
	db, data, err := openStore(ctx, where, s.err)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "create":
		t, token, k, err := server.CreateTenant(ctx, db, pos[0], "cli")
		if err != nil {
			return err
		}
		fmt.Fprintln(s.out, token)
		fmt.Fprintf(s.err, "tenant %s (%s) created; the line above is its owner API key, shown only this once\n", t.Name, t.ID)
		auditCLI(ctx, db, data, s, audit.Record{TenantID: string(t.ID), Action: "tenant.create", Target: string(t.ID),
			Details: map[string]string{"name": t.Name, "key": k.ID}})
	case "operator-key":
		token, k, err := server.IssueKey(ctx, db, "", server.KeySpec{Name: keyName, CreatedBy: "cli"})
		if err != nil {
			return err
		}
		fmt.Fprintln(s.out, token)
		fmt.Fprintf(s.err, "operator key %s created; the line above is the key, shown only this once\n", k.ID)
		auditCLI(ctx, db, data, s, audit.Record{Action: "key.create_operator", Target: k.ID, Details: map[string]string{"name": k.Name}})
	case "list":
		ts, err := db.ListTenants(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.ID, t.Name, t.Created.Local().Format(time.DateTime))
		}
		return tw.Flush()
	}
	return nil
}

// auditCLI records an administrative change already made (a key it
// created may have been printed), in the chain a running 'bulwark serve'
// appends to as well (the writers take turns: under a file lock, see
// audit.FileStore, or PostgreSQL's advisory lock, see package pgaudit).
// Should the record fail all the same, that is said on stderr, and the
// change stands.
func auditCLI(ctx context.Context, db store, data string, s stdio, r audit.Record) {
	if err := auditAdmin(ctx, db, data, s, r); err != nil {
		fmt.Fprintf(s.err, "bulwark: WARNING: the change was made, but its audit record (%s) was not written: %s\n", r.Action, redactor.String(userMessage(err)))
	}
}
