package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/secret"
	"golang.org/x/term"
)

const secretsUsage = `Usage:
  bulwark secrets set    [--tenant T] [--data DIR] [--hosts HOST,...] [--inject PLACES] NAME < VALUE
  bulwark secrets list   [--tenant T] [--data DIR]
  bulwark secrets delete [--tenant T] [--data DIR] NAME

The value of 'set' is read from stdin, or typed at a hidden prompt when stdin
is a terminal; never from the command line, where it would stay in the shell
history and the process list. Tools use a secret as {{secret:NAME}}.

--hosts binds the secret to the hosts it is for (api.github.com, or
*.example.com for the subdomains of example.com; no addresses). Sandboxed
code then sees only {{secret:NAME}}, and the egress proxy puts the value into
HTTPS requests to those hosts alone (which must also be allowed domains).
A secret set without --hosts cannot be used by code unless the operator sets
BULWARK_SECRETS_IN_SANDBOX=on. 'set' replaces the hosts with those given.

--inject says where in a request to those hosts the value may go: headers
(the default: header values, e.g. Authorization: Bearer {{secret:NAME}}),
and, only if listed, url (path and query) and body, comma-separated
(headers,url,body). A host that stores what it is sent can hand a value put
into a URL or a body back transformed, where no masking recognises it; a
placeholder anywhere the secret may not go refuses the request. 'set'
replaces the places with those given (headers only without --inject).

Examples:
  bulwark secrets set --hosts api.github.com GITHUB_TOKEN < token.txt
  bulwark secrets set --hosts upload.example.com --inject headers,body UPLOAD_KEY < key.txt`

// maxSecretInput is the most bytes 'secrets set' reads from stdin.
const maxSecretInput = 64 << 10

func cmdSecrets(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, secretsUsage, s); done {
		return code
	}
	sub := args[0]
	fs := newFlagSet("secrets "+sub, secretsUsage)
	tenant := fs.String("tenant", bulwark.LocalTenantName, "the tenant's `NAME`")
	where := addStoreFlags(fs)
	var hosts, inject *string
	if sub == "set" {
		hosts = fs.String("hosts", "", "comma-separated `HOSTS` the secret may be sent to (api.github.com, *.example.com)")
		inject = fs.String("inject", "", "where in a request the value may go: `PLACES` of headers, url, body, comma-separated (default headers)")
	}
	pos, err := fs.parseMixed(args[1:], s)
	if err != nil {
		return fail(s, err)
	}
	var bind []string
	if hosts != nil && strings.TrimSpace(*hosts) != "" {
		b, err := egress.BindingHosts(strings.Split(*hosts, ","))
		if err != nil {
			return fail(s, usagef("secrets set --hosts: %s", err))
		}
		bind = b
	}
	var places bulwark.SecretInject
	if inject != nil {
		in, err := bulwark.ParseSecretInject(*inject)
		if err != nil {
			return fail(s, usagef("secrets set --inject: %s", bulwark.ErrorMessage(err)))
		}
		if len(bind) == 0 && !in.IsHeadersOnly() {
			return fail(s, usagef("secrets set --inject %s: a secret bound to no host is put into no request; give --hosts too", in))
		}
		places = in
	}
	if err := runSecrets(ctx, sub, pos, bulwark.Secret{Hosts: bind, Inject: places}, *tenant, *where, s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

// runSecrets runs sub; for "set", bind holds the hosts and places.
func runSecrets(ctx context.Context, sub string, pos []string, bind bulwark.Secret, tenantName string, where storeFlags, s stdio) error {
	hosts := bind.Hosts
	switch sub {
	case "set", "delete":
		if len(pos) == 0 {
			return usagef("secrets %s: no secret NAME given", sub)
		}
		if sub == "set" && (len(pos) > 1 || strings.Contains(pos[0], "=")) {
			return usagef("secrets set: a secret's value is never taken from the command line (it would stay in the shell history and the process list): pipe it on stdin, e.g. bulwark secrets set NAME < file")
		}
		if len(pos) > 1 {
			return usagef("secrets %s: one NAME at a time (unexpected %q)", sub, pos[1])
		}
		if !secret.ValidName(pos[0]) {
			return usagef("secrets %s: %q is not a secret name: 1 to 64 letters, digits and _, not starting with a digit", sub, pos[0])
		}
	case "list":
		if len(pos) > 0 {
			return usagef("secrets list: unexpected argument %q", pos[0])
		}
	default:
		return usagef("secrets: unknown subcommand %q: set, list or delete", sub)
	}
	var value string
	if sub == "set" { // read the value before opening anything, so a refusal changes nothing
		v, err := readSecretValue(pos[0], s)
		if err != nil {
			return err
		}
		value = v
	}
	db, tenant, data, err := openTenantStore(ctx, where, tenantName, s.err)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "set":
		if err := db.PutSecret(ctx, tenant, bulwark.Secret{Name: pos[0], Value: value, Hosts: hosts, Inject: bind.Inject}); err != nil {
			return err
		}
		bound := "not bound to any host: code cannot use it unless " + secretsInSandboxVar + "=on"
		if len(hosts) > 0 {
			bound = "bound to " + strings.Join(hosts, ", ") + ", put into request " + strings.Join(bind.Inject.Places(), ", ")
		}
		fmt.Fprintf(s.err, "secret %s set for tenant %s, %s; tools refer to it as %s\n", pos[0], tenantName, bound, secret.Placeholder(pos[0]))
		return auditAdmin(ctx, db, data, s, audit.Record{TenantID: string(tenant), Action: "secret.set", Target: pos[0], Outcome: audit.OutcomeOK,
			Details: map[string]string{"hosts": strings.Join(hosts, ","), "inject": bind.Inject.String()}})
	case "delete":
		if err := db.DeleteSecret(ctx, tenant, pos[0]); err != nil {
			if bulwark.ErrorKind(err) == bulwark.NotFound { // the operator's own input: safe to name
				return bulwark.E(bulwark.NotFound, "secrets", fmt.Sprintf("no secret named %q", pos[0]), err)
			}
			return err
		}
		fmt.Fprintf(s.err, "secret %s deleted from tenant %s\n", pos[0], tenantName)
		return auditAdmin(ctx, db, data, s, audit.Record{TenantID: string(tenant), Action: "secret.delete", Target: pos[0], Outcome: audit.OutcomeOK})
	case "list":
		infos, err := db.ListSecrets(ctx, tenant)
		if err != nil {
			return err
		}
		if len(infos) == 0 {
			fmt.Fprintf(s.err, "tenant %s has no secrets\n", tenantName)
			return nil
		}
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tHOSTS\tINJECT\tCREATED\tUPDATED")
		for _, i := range infos {
			hosts := strings.Join(i.Hosts, ",")
			if hosts == "" {
				hosts = "-"
			}
			inject := i.Inject.String()
			if len(i.Hosts) == 0 {
				inject = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Name, hosts, inject, i.Created.Local().Format(time.DateTime), i.Updated.Local().Format(time.DateTime))
		}
		return tw.Flush()
	}
	return nil
}

// openTenantStore opens the data folder's store and finds the tenant named
// name: the local tenant is created on first use, others must exist.
func openTenantStore(ctx context.Context, where storeFlags, name string, w io.Writer) (store, bulwark.TenantID, string, error) {
	db, data, err := openStore(ctx, where, w)
	if err != nil {
		return nil, "", "", err
	}
	t, err := findTenant(ctx, db, name)
	if err != nil {
		db.Close()
		return nil, "", "", err
	}
	return db, t.ID, data, nil
}

// findTenant finds the tenant named name: the local tenant is created on
// first use, others must exist.
func findTenant(ctx context.Context, db bulwark.TenantStore, name string) (bulwark.Tenant, error) {
	if name == bulwark.LocalTenantName {
		return db.LocalTenant(ctx)
	}
	t, err := db.TenantByName(ctx, name)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		err = bulwark.E(bulwark.NotFound, "tenant", fmt.Sprintf("there is no tenant named %q (bulwark tenants list shows them)", name), err)
	}
	return t, err
}

// readSecretValue reads a secret's value: at a hidden prompt when stdin is
// a terminal, else all of stdin less one line ending at its end.
func readSecretValue(name string, s stdio) (string, error) {
	if f, ok := s.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(s.err, "Value of %s (not shown): ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.err)
		if err != nil {
			return "", bulwark.E(bulwark.Unavailable, "secrets", "cannot read the value from the terminal", err)
		}
		return checkSecretInput(b)
	}
	b, err := io.ReadAll(io.LimitReader(s.in, maxSecretInput+1))
	if err != nil {
		return "", bulwark.E(bulwark.Unavailable, "secrets", "cannot read the value from stdin", err)
	}
	if len(b) > maxSecretInput {
		return "", usagef("secrets set: the value on stdin is longer than %d bytes", maxSecretInput)
	}
	if bytes.HasSuffix(b, []byte("\n")) {
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	}
	return checkSecretInput(b)
}

func checkSecretInput(b []byte) (string, error) {
	if len(b) == 0 {
		return "", usagef("secrets set: the value is empty: pipe it on stdin, e.g. bulwark secrets set NAME < file")
	}
	return string(b), nil
}
