package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

const keysUsage = `Usage:
  bulwark keys status        [--data DIR]
  bulwark keys rotate-master [--data DIR]
  bulwark keys retire-master [--data DIR] --version N

rotate-master adds a new master key version to the key file, makes it
current and re-wraps every tenant's data key with it; older versions keep
opening until retired. With BULWARK_MASTER_KEY, add the new version there
first (v1:OLD,v2:NEW) and restart; rotate-master then re-wraps to it.
retire-master removes a version that no data key is wrapped by any more.
With a PostgreSQL store, rotate-master also seals the audit signing key
kept there with the new version, and retire-master refuses a version that
still seals it.

Example:
  bulwark keys rotate-master && bulwark keys status`

func cmdKeys(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, keysUsage, s); done {
		return code
	}
	sub := args[0]
	fs := newFlagSet("keys "+sub, keysUsage)
	where := addStoreFlags(fs)
	version := fs.Int("version", 0, "the master key version `N` to retire")
	pos, err := fs.parseMixed(args[1:], s)
	if err != nil {
		return fail(s, err)
	}
	if err := runKeys(ctx, sub, pos, *where, *version, s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

func runKeys(ctx context.Context, sub string, pos []string, where storeFlags, version int, s stdio) error {
	switch sub {
	case "status", "rotate-master", "retire-master":
	default:
		return usagef("keys: unknown subcommand %q: status, rotate-master or retire-master", sub)
	}
	if len(pos) > 0 {
		return usagef("keys %s: unexpected argument %q", sub, pos[0])
	}
	if sub == "retire-master" && version <= 0 {
		return usagef("keys retire-master: give the version to retire with --version N (see bulwark keys status)")
	}
	db, data, err := openStore(ctx, where, s.err)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "rotate-master":
		rot, err := db.RotateMaster(ctx)
		if bulwark.ErrorKind(err) == bulwark.Conflict {
			// No data key to re-wrap, but the audit signing key kept in
			// PostgreSQL may still be sealed with an older version.
			if v, ok := resealAuditKey(ctx, db); ok {
				fmt.Fprintf(s.out, "the audit signing key is now sealed with master key version %d\n", v)
				return auditAdmin(ctx, db, data, s, audit.Record{Action: "key.rotate_master", Target: fmt.Sprintf("v%d", v), Outcome: audit.OutcomeOK,
					Details: map[string]string{"rewrapped": "0", "audit_key": "resealed"}})
			}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(s.out, "master key version %d is current; %d data keys re-wrapped with it, and %d new ones made, which seal what is written from now on\n", rot.Version, rot.Rewrapped, rot.DataKeys)
		if rot.Previous > 0 && rot.Previous != rot.Version {
			fmt.Fprintf(s.out, "version %d still opens until you retire it: bulwark keys retire-master --version %d\n", rot.Previous, rot.Previous)
		}
		return auditAdmin(ctx, db, data, s, audit.Record{Action: "key.rotate_master", Target: fmt.Sprintf("v%d", rot.Version), Outcome: audit.OutcomeOK,
			Details: map[string]string{"rewrapped": fmt.Sprint(rot.Rewrapped), "data_keys": fmt.Sprint(rot.DataKeys)}})
	case "retire-master":
		if err := db.RetireMaster(ctx, version); err != nil {
			return err
		}
		fmt.Fprintf(s.out, "master key version %d retired\n", version)
		fmt.Fprintf(s.out, "backups made while it was current are sealed with it: keep a copy of a key file holding v%d to restore them\n", version)
		fmt.Fprintf(s.out, "another data folder that uses this key file (one restored from a backup) no longer opens if its data keys are wrapped with v%d: run rotate-master there before retiring a version, or give it a key file of its own\n", version)
		return auditAdmin(ctx, db, data, s, audit.Record{Action: "key.retire_master", Target: fmt.Sprintf("v%d", version), Outcome: audit.OutcomeOK})
	case "status":
		st, err := db.KeyStatus(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(s.out, "master keys from %s; current version %d\n", st.Source, st.Current)
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tCURRENT\tDATA KEYS\tSINCE")
		for _, v := range st.Versions {
			cur, since := "", "-"
			if v.Current {
				cur = "yes"
			}
			if !v.Created.IsZero() {
				since = v.Created.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "v%d\t%s\t%d\t%s\n", v.Version, cur, v.DataKeys, since)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if v, ok := auditKeySealedWith(ctx, db); ok {
			fmt.Fprintf(s.out, "the audit signing key kept in PostgreSQL is sealed with version %d\n", v)
		}
		return nil
	}
	return nil
}
