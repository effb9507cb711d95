package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/bytesize"
)

// `bulwark backup`, `bulwark backup verify` and `bulwark restore`: the
// flags and reports. What goes into a backup is in backup_make.go, how it
// comes back in backup_restore.go, the file format in the backup package.

const backupUsage = `Usage:
  bulwark backup --out FILE [--data DIR]
  bulwark backup verify FILE

backup writes a consistent copy of the installation of the data folder to
FILE while 'bulwark serve' keeps running on it: the SQLite store (copied in
one read transaction, VACUUM INTO), every audit chain (each copied as it
stood at one moment, without holding up the server's appends), and the
audit signing key and the device cookie key, sealed with the master key.
Task content and secrets are in the store, sealed as they are there; the
plain workspace folders of running tasks are not copied (their files are
in each task's sealed checkpoint, from which a restored server resumes
them). The master key is never in a backup: keep it apart (a secrets
manager, or a file elsewhere named by BULWARK_MASTER_KEY_FILE), since
without it a backup cannot be restored. FILE is written to a temporary
name beside it and renamed when complete and read back; 'bulwark doctor'
then reports its age. FILE may not be inside the data folder, and an
existing FILE is replaced only when it is an earlier backup.

verify checks FILE without the installation: the manifest and its
checksum, every entry's size and SHA-256, and every audit chain inside
(hashes and signed checkpoints). With the master key set (BULWARK_MASTER_KEY
or BULWARK_MASTER_KEY_FILE) it also checks that the key sealed the
manifest (so the backup was made by whoever holds the key, and not altered
since, checksums included) and opens the sealed keys; restore always
checks that.

A PostgreSQL store (--database-url or BULWARK_DATABASE_URL) is backed up
with pg_dump (it holds the audit log and its key too); see the README.

Examples:
  bulwark backup --out /srv/backups/bulwark-$(date +%F).tar
  bulwark backup verify /srv/backups/bulwark-2026-01-31.tar`

const restoreUsage = `Usage:
  bulwark restore --data DIR FILE

restore writes the backup FILE into the data folder DIR, which must be
empty or not exist yet: it never overwrites an installation. It needs the
master key the backup was made with (BULWARK_MASTER_KEY or
BULWARK_MASTER_KEY_FILE), which is never in the backup. Everything is
checked in a temporary folder beside DIR first (checksums, every audit
chain, the sealed keys open, the store opens with the key) and moved into
place only then. Start the server on DIR with the same master key.

Example:
  BULWARK_MASTER_KEY_FILE=/etc/bulwark/master.key bulwark restore --data /var/lib/bulwark-new backup.tar`

func cmdBackup(ctx context.Context, args []string, s stdio) int {
	if len(args) > 0 && args[0] == "verify" {
		return cmdBackupVerify(ctx, args[1:], s)
	}
	fs := newFlagSet("backup", backupUsage)
	where := addStoreFlags(fs)
	out := fs.String("out", "", "write the backup to `FILE`")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	if fs.NArg() > 0 {
		return fail(s, usagef("backup: unexpected argument %q (backup --out FILE, or backup verify FILE)", fs.Arg(0)))
	}
	if *out == "" {
		return fail(s, usagef("backup: give --out FILE, the file to write"))
	}
	u, err := where.databaseURL()
	if err != nil {
		return fail(s, err)
	}
	if u != "" {
		return fail(s, errBackupPostgres)
	}
	data, err := dataDir(where.data)
	if err != nil {
		return fail(s, err)
	}
	prog := newProgress(s, "backup")
	res, err := makeBackup(ctx, data, *out, prog, s)
	prog.done()
	if err != nil {
		return fail(s, err)
	}
	printBackup(s, res)
	return exitOK
}

// errBackupPostgres is the answer to a backup of a PostgreSQL store.
var errBackupPostgres = &bulwark.Error{Kind: bulwark.Invalid, Op: "backup", // a literal: no init work
	Msg: "the store is in PostgreSQL, which holds the audit log and its signing key too: back it up with pg_dump " +
		"(pg_dump --format=custom --file=FILE URL; restore with pg_restore into an empty database), " +
		"and keep the master key apart from the dump (see the README)"}

func printBackup(s stdio, r backupResult) {
	m := r.manifest
	var size int64
	for _, e := range m.Entries {
		size += e.Size
	}
	fmt.Fprintf(s.out, "backup written to %s (%s)\n", r.file, bytesize.Fixed(r.size))
	fmt.Fprintf(s.out, "  store        SQLite, schema version %d, %s\n", m.Schema, bytesize.Fixed(r.storeSize))
	fmt.Fprintf(s.out, "  audit log    %d chains, %d records verified\n", r.chains, r.records)
	switch {
	case r.auditKeyApart:
		fmt.Fprintf(s.out, "  audit key    not included: it is kept apart (%s); keep a copy of it with the master key\n", r.auditKeyPath)
	default:
		fmt.Fprintln(s.out, "  audit key    included, sealed with the master key")
	}
	fmt.Fprintf(s.out, "  entries      %d, %s, each with its SHA-256 in the manifest\n", len(m.Entries), bytesize.Fixed(size))
	fmt.Fprintln(s.out, "the master key is not in the backup: keep it apart, without it the backup cannot be restored")
	if r.recordErr != nil {
		fmt.Fprintf(s.err, "bulwark: WARNING: the backup is complete, but its time could not be recorded for doctor: %s\n", userMessage(r.recordErr))
	}
}

func cmdBackupVerify(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("backup verify", backupUsage)
	pos, err := fs.parseMixed(args, s)
	if err != nil {
		return fail(s, err)
	}
	if len(pos) != 1 {
		return fail(s, usagef("backup verify: give the backup FILE to check"))
	}
	prog := newProgress(s, "verify")
	res, err := verifyBackup(ctx, pos[0], prog)
	prog.done()
	if err != nil {
		return fail(s, err)
	}
	m := res.manifest
	fmt.Fprintf(s.out, "%s: made %s by bulwark %s, SQLite schema version %d\n", pos[0], m.Created.Format(time.RFC3339), printable(m.Bulwark), m.Schema)
	fmt.Fprintf(s.out, "  %d entries, every size and SHA-256 as the manifest says\n", len(m.Entries))
	fmt.Fprintf(s.out, "  audit log: %d chains, %d records verified\n", res.chains, res.records)
	if res.authentic {
		fmt.Fprintf(s.out, "  made with this master key: it sealed the manifest, and it opens the sealed keys (%d)\n", res.keysChecked)
	} else {
		fmt.Fprintln(s.out, "  not checked against the master key (set BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE to check who made it and that the sealed keys open)")
	}
	fmt.Fprintln(s.out, "backup intact")
	return exitOK
}

func cmdRestore(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("restore", restoreUsage)
	where := &storeFlags{}
	fs.StringVar(&where.data, "data", "", "the new or empty data `DIR` to restore into (required)")
	pos, err := fs.parseMixed(args, s)
	if err != nil {
		return fail(s, err)
	}
	if len(pos) != 1 {
		return fail(s, usagef("restore: give the backup FILE to restore (restore --data DIR FILE)"))
	}
	if where.data == "" {
		return fail(s, usagef("restore: give --data DIR, a new or empty folder to restore into"))
	}
	if u, err := where.databaseURL(); err != nil {
		return fail(s, err)
	} else if u != "" {
		return fail(s, bulwark.Errorf(bulwark.Invalid, "restore", "restore writes a data folder with its SQLite store; a PostgreSQL store is restored with pg_restore (see the README): unset BULWARK_DATABASE_URL"))
	}
	dir, err := filepath.Abs(where.data)
	if err != nil {
		return fail(s, usagef("restore: --data %q is not a usable path", where.data))
	}
	prog := newProgress(s, "restore")
	res, err := restoreBackup(ctx, pos[0], dir, prog)
	prog.done()
	if err != nil {
		return fail(s, err)
	}
	fmt.Fprintf(s.out, "restored %s into %s\n", pos[0], dir)
	fmt.Fprintf(s.out, "  store        SQLite, schema version %d, opens with the master key\n", res.manifest.Schema)
	fmt.Fprintf(s.out, "  audit log    %d chains, %d records verified\n", res.chains, res.records)
	if res.auditKeyApart {
		fmt.Fprintln(s.out, "  audit key    was kept apart and is not in the backup: set BULWARK_AUDIT_KEY_FILE to it before starting the server")
	}
	fmt.Fprintf(s.out, "start it with BULWARK_DATA=%s and the same master key (BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE)\n", dir)
	return exitOK
}
