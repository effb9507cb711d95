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
	"github.com/bulwark-agents/bulwark/server"
	"golang.org/x/term"
)

const usersUsage = `Usage:
  bulwark users create --tenant T --email E [--role R] [--hash] [--data DIR] < PASSWORD
  bulwark users list   --tenant T [--data DIR]

The password of 'create' is read from stdin, or typed twice at a hidden
prompt when stdin is a terminal; never from the command line. It must be 12
to 128 characters, not in the list of common and breached passwords built
in, and not easy to guess (no repeats, sequences, keyboard rows or email). With --hash, stdin holds an existing password hash to
import instead (argon2id PHC, or bcrypt $2a$/$2b$/$2y$, which is replaced by
argon2id at the user's next login). Roles: viewer, member (default), admin,
owner.

Example:
  bulwark users create --tenant acme --email bob@example.com --role admin < pw.txt`

func cmdUsers(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, usersUsage, s); done {
		return code
	}
	sub := args[0]
	for _, a := range args[1:] {
		if a == "--password" || a == "-password" || strings.HasPrefix(a, "--password=") || strings.HasPrefix(a, "-password=") {
			return fail(s, usagef("users: a password is never taken from the command line (it would stay in the shell history and the process list): pipe it on stdin"))
		}
	}
	fs := newFlagSet("users "+sub, usersUsage)
	tenant := fs.String("tenant", "", "the tenant's `NAME`")
	email := fs.String("email", "", "the user's `EMAIL`")
	role := fs.String("role", string(bulwark.RoleMember), "the user's `ROLE`: viewer, member, admin or owner")
	hash := fs.Bool("hash", false, "stdin holds a password hash to import (argon2id or bcrypt)")
	where := addStoreFlags(fs)
	pos, err := fs.parseMixed(args[1:], s)
	if err != nil {
		return fail(s, err)
	}
	if err := runUsers(ctx, sub, pos, *tenant, *email, *role, *hash, *where, s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

func runUsers(ctx context.Context, sub string, pos []string, tenantName, email, roleName string, isHash bool, where storeFlags, s stdio) error {
	switch sub {
	case "create", "list":
	default:
		return usagef("users: unknown subcommand %q: create or list", sub)
	}
	if len(pos) > 0 {
		return usagef("users %s: unexpected argument %q (a password is read from stdin, never from the command line)", sub, pos[0])
	}
	if tenantName == "" {
		return usagef("users %s: name the tenant with --tenant", sub)
	}
	var u bulwark.User
	var passwordHash string
	if sub == "create" { // read and check everything before opening anything
		role, err := bulwark.ParseRole(roleName)
		if err != nil {
			return usagef("users create: %s", bulwark.ErrorMessage(err))
		}
		if email == "" {
			return usagef("users create: give the user's email with --email")
		}
		typed := email
		if email, err = bulwark.NormalizeEmail(email); err != nil {
			return usagef("users create: --email %q is not an email address (want a name@domain address)", typed)
		}
		u = bulwark.User{Email: email, Role: role}
		if passwordHash, err = readPasswordHash(isHash, email, tenantName, s); err != nil {
			return err
		}
	}
	db, tenant, data, err := openTenantStore(ctx, where, tenantName, s.err)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "list" {
		us, err := db.ListUsers(ctx, tenant)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tCREATED")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, u.Created.Local().Format(time.DateTime))
		}
		return tw.Flush()
	}
	u, err = db.CreateUser(ctx, tenant, u, passwordHash)
	if err != nil {
		return err
	}
	fmt.Fprintln(s.out, u.ID)
	fmt.Fprintf(s.err, "user %s (%s, %s) created in tenant %s\n", u.Email, u.ID, u.Role, tenantName)
	auditCLI(ctx, db, data, s, audit.Record{TenantID: string(tenant), Action: "user.create", Target: u.ID,
		Details: map[string]string{"email": u.Email, "role": string(u.Role)}})
	return nil
}

// readPasswordHash reads a password (or, with isHash, a hash to import)
// and returns the hash to store.
func readPasswordHash(isHash bool, email, tenant string, s stdio) (string, error) {
	var pw string
	if f, ok := s.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !isHash {
		var err error
		if pw, err = promptPassword(f, s); err != nil {
			return "", err
		}
	} else {
		b, err := io.ReadAll(io.LimitReader(s.in, 4*server.MaxPasswordLen+3))
		if err != nil {
			return "", bulwark.E(bulwark.Unavailable, "users", "cannot read the password from stdin", err)
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		pw = string(b)
	}
	if isHash {
		if !server.ValidPasswordHash(pw) {
			return "", usagef("users create --hash: stdin does not hold an argon2id PHC string or a bcrypt hash of cost 10 or more")
		}
		return pw, nil
	}
	if err := server.CheckPassword(pw, email, tenant); err != nil {
		return "", usagef("users create: %s (pipe it on stdin)", bulwark.ErrorMessage(err))
	}
	h, err := server.HashPassword(pw, server.DefaultPasswordParams)
	if err != nil {
		return "", err
	}
	return h, nil
}

func promptPassword(f *os.File, s stdio) (string, error) {
	read := func(prompt string) (string, error) {
		fmt.Fprint(s.err, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.err)
		if err != nil {
			return "", bulwark.E(bulwark.Unavailable, "users", "cannot read the password from the terminal", err)
		}
		return string(b), nil
	}
	pw, err := read("Password (not shown): ")
	if err != nil {
		return "", err
	}
	again, err := read("Again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", usagef("users create: the two passwords differ")
	}
	return pw, nil
}
