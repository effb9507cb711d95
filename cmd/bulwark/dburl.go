package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The database: SQLite in the data folder unless a PostgreSQL URL is given
// (--database-url, then BULWARK_DATABASE_URL). The URL's password never
// reaches a message or a log: everything that shows the URL shows
// maskURL's form of it, and the password is added to the redactor.

// passwordMask replaces a password where a URL is shown.
const passwordMask = "xxxxx"

// postgresURL reports whether raw is a postgres:// or postgresql:// URL,
// and is a usage error for any other URL: what names the flag or variable
// it came from.
func postgresURL(what, raw string) (bool, error) {
	if raw == "" {
		return false, nil
	}
	scheme, _, found := strings.Cut(raw, "://")
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		if found {
			if _, err := url.Parse(raw); err != nil {
				return false, usagef("%s is not a valid URL (%s): write it as postgres://USER:PASSWORD@HOST:5432/DATABASE", what, maskURL(raw))
			}
			return true, nil
		}
	}
	if !found { // not echoed: it may be a key=value string with a password
		return false, usagef("%s must be a postgres:// or postgresql:// URL; leave it unset for SQLite in the data folder", what)
	}
	return false, usagef("%s: the scheme %q is not supported: give a postgres:// or postgresql:// URL, or leave it unset for SQLite in the data folder", what, scheme)
}

// maskURL is raw as it may be shown: its password, in the user part or in
// a password or sslpassword parameter, replaced by xxxxx. A string that
// does not parse as a URL is not shown at all.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "(a URL that does not parse, not shown)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), passwordMask)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isPasswordParam(k) {
				q.Set(k, passwordMask)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// hidePasswords adds the passwords of the URL raw to the redactor, which
// masks the process's log and error lines, so that a driver's message that
// echoes one shows [REDACTED] instead.
func hidePasswords(raw string) {
	for _, p := range urlPasswords(raw) {
		// One name per password: Add replaces the value a name had.
		redactor.Add(fmt.Sprintf("database_password_%d", hiddenPasswords.Add(1)), p)
	}
}

// hiddenPasswords counts the passwords given to the redactor.
var hiddenPasswords atomic.Int64

// urlPasswords are the passwords raw holds, for the redactor and for
// scrubbing the text of a driver's error.
func urlPasswords(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		if p, has := u.User.Password(); has && p != "" {
			out = append(out, p)
		}
	}
	for k, vs := range u.Query() {
		if isPasswordParam(k) {
			for _, v := range vs {
				if v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

func isPasswordParam(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword"
}

// scrubURL removes raw and its passwords from text (a driver's error
// message), leaving maskURL's form of the URL.
func scrubURL(text, raw string) string {
	if raw == "" {
		return text
	}
	text = strings.ReplaceAll(text, raw, maskURL(raw))
	for _, p := range urlPasswords(raw) {
		text = strings.ReplaceAll(text, p, passwordMask)
		if esc := url.QueryEscape(p); esc != p {
			text = strings.ReplaceAll(text, esc, passwordMask)
		}
		if esc := url.PathEscape(p); esc != p {
			text = strings.ReplaceAll(text, esc, passwordMask)
		}
	}
	return text
}

// passwordInFlag is the warning for a URL with a password given as the
// flag name, or "" when it holds none: the process list and the shell
// history show what the command line holds.
func passwordInFlag(name, raw string) string {
	if len(urlPasswords(raw)) == 0 {
		return ""
	}
	return "WARNING: the URL of " + name + " holds a password, which the process list and the shell history show: " +
		"give the URL in BULWARK_DATABASE_URL instead, or the password in PGPASSWORD or ~/.pgpass"
}

// poolOptions are the PostgreSQL connection pool's settings.
type poolOptions struct {
	// MaxConns is the most connections the pool opens.
	MaxConns int32
	// StatementTimeout ends a statement that runs longer.
	StatementTimeout time.Duration
}

// Defaults of poolOptions: a node with ten connections serves a busy
// server (SQLite works with one writer), and no statement of the store
// should take anywhere near 30s.
const (
	defaultDBMaxConns         = 10
	defaultDBStatementTimeout = 30 * time.Second
	maxDBMaxConns             = 1000
)

// readPoolOptions reads BULWARK_DB_MAX_CONNS and BULWARK_DB_STATEMENT_TIMEOUT.
func readPoolOptions() (poolOptions, error) {
	o := poolOptions{MaxConns: defaultDBMaxConns}
	if v := env("BULWARK_DB_MAX_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDBMaxConns {
			return o, usagef("BULWARK_DB_MAX_CONNS=%q: want a whole number from 1 to %d (default %d)", v, maxDBMaxConns, defaultDBMaxConns)
		}
		o.MaxConns = int32(n)
	}
	d, err := envDuration("BULWARK_DB_STATEMENT_TIMEOUT", defaultDBStatementTimeout)
	if err != nil {
		return o, err
	}
	o.StatementTimeout = d
	return o, nil
}
