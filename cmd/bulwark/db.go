package main

import (
	"context"
	"fmt"
)

const dbUsage = `Usage:
  bulwark db migrate [--database-url URL | --data DIR]
  bulwark db copy --from PATH-OR-URL --to PATH-OR-URL [--force]

migrate opens the store, which brings its schema to this bulwark's version,
and prints that version. Every command migrates the store it opens; with a
PostgreSQL database that several nodes share, upgrade the nodes and run
migrate once, from one of them.

copy moves a whole installation's store between SQLite and PostgreSQL, either
way, or from one data folder to another. A PATH is a data folder (the
bulwark.db in it); a URL is postgres://USER:PASSWORD@HOST:5432/DATABASE.
Rows are copied as they are, sealed values still sealed, so the target opens
only with the same master key: give it in BULWARK_MASTER_KEY or
BULWARK_MASTER_KEY_FILE (required with PostgreSQL; between two data folders,
the source's master.key is used and put in the target folder too). Both ends
are first brought to this bulwark's schema; the rows go into the target in
one transaction, table by table, checked by counting each table before it
commits; the target is then opened with the key and read back against the
source. A target that holds data is refused; --force deletes everything in
it first. Stop 'bulwark serve' on both ends while copying.

Only the store moves: the audit log and its signing key, the device key and
the workspaces stay in the data folder, which the nodes using the target
still need (point their --data or BULWARK_DATA at it, or copy it).

Example:
  BULWARK_MASTER_KEY_FILE=/etc/bulwark/master.key bulwark db copy --from /var/lib/bulwark --to postgres://bulwark@db.internal/bulwark`

func cmdDB(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, dbUsage, s); done {
		return code
	}
	sub := args[0]
	fs := newFlagSet("db "+sub, dbUsage)
	var err error
	switch sub {
	case "migrate":
		where := addStoreFlags(fs)
		if err = fs.parse(args[1:], s); err == nil {
			err = dbMigrate(ctx, fs, *where, s)
		}
	case "copy":
		from := fs.String("from", "", "copy the store of the data folder or PostgreSQL database `PATH-OR-URL`")
		to := fs.String("to", "", "into the data folder or PostgreSQL database `PATH-OR-URL`")
		force := fs.Bool("force", false, "delete everything the target holds before copying")
		if err = fs.parse(args[1:], s); err == nil {
			err = dbCopy(ctx, fs, *from, *to, *force, s)
		}
	default:
		err = usagef("db: unknown subcommand %q: migrate or copy (see 'bulwark help db')", sub)
	}
	if err != nil {
		return fail(s, err)
	}
	return exitOK
}

func dbMigrate(ctx context.Context, fs *flagSet, where storeFlags, s stdio) error {
	if fs.NArg() > 0 {
		return usagef("db migrate: unexpected argument %q", fs.Arg(0))
	}
	u, err := where.databaseURL()
	if err != nil {
		return err
	}
	if warning := passwordInFlag("--database-url", where.url); warning != "" {
		fmt.Fprintln(s.err, "bulwark: "+warning)
	}
	var before int
	var loc storeLocation
	if u != "" {
		loc = storeLocation{url: u}
		mk, err := postgresMasterKey() // before any connection
		if err != nil {
			return err
		}
		if _, err := readPoolOptions(); err != nil {
			return err
		}
		if openPostgres == nil {
			return errNoPostgresSupport
		}
		if raw, err := openRaw(ctx, loc, true); err == nil {
			before, _ = raw.schemaVersion(ctx, raw.DB)
			raw.Close()
		}
		db, err := openAt(ctx, loc, mk)
		if err != nil {
			return err
		}
		defer db.Close()
		return printMigrated(ctx, db, loc, before, s)
	}
	dir, err := dataDir(where.data)
	if err != nil {
		return err
	}
	loc = storeLocation{dir: dir}
	if raw, err := openRaw(ctx, loc, true); err == nil {
		before, _ = raw.schemaVersion(ctx, raw.DB)
		raw.Close()
	}
	db, _, err := openStore(ctx, storeFlags{data: dir}, s.err)
	if err != nil {
		return err
	}
	defer db.Close()
	return printMigrated(ctx, db, loc, before, s)
}

func printMigrated(ctx context.Context, db store, loc storeLocation, before int, s stdio) error {
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if before != v {
		fmt.Fprintf(s.out, "%s: schema version %d (migrated from %d)\n", loc, v, before)
	} else {
		fmt.Fprintf(s.out, "%s: schema version %d (already current)\n", loc, v)
	}
	return nil
}

func dbCopy(ctx context.Context, fs *flagSet, fromArg, toArg string, force bool, s stdio) error {
	if fs.NArg() > 0 {
		return usagef("db copy: unexpected argument %q (give --from and --to)", fs.Arg(0))
	}
	from, err := copyEnd("--from", fromArg)
	if err != nil {
		return err
	}
	to, err := copyEnd("--to", toArg)
	if err != nil {
		return err
	}
	for _, end := range []struct{ name, url string }{{"--from", from.url}, {"--to", to.url}} {
		if warning := passwordInFlag(end.name, end.url); warning != "" {
			fmt.Fprintln(s.err, "bulwark: "+warning)
		}
	}
	prog := newProgress(s, "db copy")
	res, err := copyStore(ctx, from, to, force, prog)
	prog.done()
	if err != nil {
		return err
	}
	printCopy(s.out, from, to, res)
	return nil
}
