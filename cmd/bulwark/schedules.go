package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/schedule"
	"github.com/bulwark-agents/bulwark/server"
)

const schedulesUsage = `Usage:
  bulwark schedules add    --tenant T --user EMAIL --cron SPEC [--timezone ZONE]
                           [--model SPEC] [--overlap] INPUT... [--data DIR]
  bulwark schedules list   [--tenant T] [--json] [--data DIR]
  bulwark schedules delete ID [--tenant T] [--data DIR]

A schedule starts a task at each tick of its cron spec, as its owner (the
user --user names, who must be a member or above when it fires), while a
'bulwark serve' runs on the same data folder or database (several servers on
one database fire each tick once). These commands work beside it.

--cron is five fields ("0 9 * * 1-5": 09:00 on weekdays), a descriptor
(@hourly, @daily, @weekly, @monthly) or "@every 1h"; it may not fire more
often than BULWARK_MIN_SCHEDULE_INTERVAL (1m). --timezone is an IANA name
(Europe/Paris; default UTC). A tick while the schedule's previous task still
runs is skipped unless --overlap. After downtime, a missed tick runs once,
late; the ticks missed before it are counted as skipped.

Example:
  bulwark schedules add --tenant acme --user ann@example.com --cron "0 9 * * 1-5" \
    --timezone Europe/Paris "Summarise yesterday's support tickets"`

func cmdSchedules(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, schedulesUsage, s); done {
		return code
	}
	sub := args[0]
	switch sub {
	case "add", "list", "delete":
	default:
		return fail(s, usagef("schedules: unknown subcommand %q: add, list or delete (see 'bulwark help schedules')", sub))
	}
	fs := newFlagSet("schedules "+sub, schedulesUsage)
	var o schedulesFlags
	o.where = addStoreFlags(fs)
	fs.StringVar(&o.tenant, "tenant", "", "the tenant's `NAME` (default: the local tenant)")
	switch sub {
	case "add":
		fs.StringVar(&o.user, "user", "", "the `EMAIL` of the user the schedule runs as")
		fs.StringVar(&o.cron, "cron", "", "the cron `SPEC`")
		fs.StringVar(&o.tz, "timezone", "", "the IANA time `ZONE` the spec is read in (default UTC)")
		fs.StringVar(&o.model, "model", "", "the model `SPEC` (default: the tenant's)")
		fs.BoolVar(&o.overlap, "overlap", false, "start a task at a tick even while the previous one runs")
	case "list":
		fs.BoolVar(&o.json, "json", false, "print JSON")
	}
	pos, err := fs.parseMixed(args[1:], s)
	if err != nil {
		return fail(s, err)
	}
	switch {
	case sub == "list" && len(pos) > 0:
		return fail(s, usagef("schedules list: unexpected argument %q", pos[0]))
	case sub == "delete" && len(pos) != 1:
		return fail(s, usagef("schedules delete: give one schedule ID (see bulwark schedules list)"))
	case sub == "add" && len(pos) == 0:
		return fail(s, usagef("schedules add: give the task's INPUT"))
	case sub == "add" && (o.cron == "" || o.user == ""):
		return fail(s, usagef("schedules add: give --cron SPEC and --user EMAIL"))
	}
	if err := runSchedules(ctx, sub, pos, o, s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

type schedulesFlags struct {
	where                         *storeFlags
	tenant, user, cron, tz, model string
	overlap, json                 bool
}

func runSchedules(ctx context.Context, sub string, pos []string, o schedulesFlags, s stdio) error {
	min, err := readMinScheduleInterval()
	if err != nil {
		return err
	}
	db, tenant, data, err := openTaskTenant(ctx, *o.where, o.tenant, s)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "add":
		u, _, err := db.TenantUserByEmail(ctx, tenant, o.user)
		if bulwark.ErrorKind(err) == bulwark.NotFound {
			return usagef("schedules add: the tenant has no user %q (see bulwark users list)", o.user)
		}
		if err != nil {
			return err
		}
		if !u.Role.AtLeast(bulwark.RoleMember) {
			return usagef("schedules add: %s is a %s: a schedule's owner must be a member or above", o.user, u.Role)
		}
		input, err := guard.ValidateInput(strings.Join(pos, " "), server.MaxInputBytes)
		if err != nil {
			return bulwark.E(bulwark.Invalid, "schedules", "input: "+bulwark.ErrorMessage(err), err)
		}
		now := time.Now()
		sp, err := schedule.Check(o.cron, o.tz, min, now)
		if err != nil {
			return err
		}
		tz := o.tz
		if tz == "" {
			tz = "UTC"
		}
		sc, err := db.CreateSchedule(ctx, tenant, bulwark.Schedule{Cron: o.cron, Timezone: tz, Input: input, Model: o.model,
			Overlap: o.overlap, OwnerUser: u.ID, NextRun: sp.Next(now)})
		if err != nil {
			return err
		}
		fmt.Fprintln(s.out, sc.ID)
		fmt.Fprintf(s.err, "schedule %s made: it runs as %s, next at %s\n", sc.ID, o.user, sc.NextRun.Local().Format(time.RFC3339))
		auditCLI(ctx, db, data, s, audit.Record{TenantID: string(tenant), Action: "schedule.create", Target: sc.ID,
			Details: map[string]string{"cron": sc.Cron, "timezone": sc.Timezone, "owner": u.ID, "bytes": fmt.Sprint(len(input))}})
		return nil
	case "delete":
		if err := db.DeleteSchedule(ctx, tenant, pos[0]); err != nil {
			if bulwark.ErrorKind(err) == bulwark.NotFound {
				return usagef("schedules delete: the tenant has no schedule %q (see bulwark schedules list)", pos[0])
			}
			return err
		}
		auditCLI(ctx, db, data, s, audit.Record{TenantID: string(tenant), Action: "schedule.delete", Target: pos[0]})
		fmt.Fprintf(s.err, "schedule %s deleted\n", pos[0])
		return nil
	}
	list, err := db.ListSchedules(ctx, tenant)
	if err != nil {
		return err
	}
	red, err := (&shownMask{db: db, tenant: tenant}).current(ctx)
	if err != nil {
		return err
	}
	for i := range list {
		list[i].Input = red.String(list[i].Input)
	}
	if o.json {
		enc := json.NewEncoder(s.out)
		for _, sc := range list {
			if err := enc.Encode(sc); err != nil {
				return err
			}
		}
		return nil
	}
	if len(list) == 0 {
		fmt.Fprintln(s.out, "no schedules")
		return nil
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCRON\tZONE\tNEXT\tRUNS\tSKIPPED\tINPUT")
	for _, sc := range list {
		next := sc.NextRun.Local().Format("2006-01-02 15:04")
		if sc.Stopped != "" {
			next = "stopped: " + sc.Stopped
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", sc.ID, printable(sc.Cron), sc.Timezone, printable(next), sc.Runs, sc.Skipped, printable(oneLine(sc.Input, 50)))
	}
	return tw.Flush()
}

// readMinScheduleInterval reads BULWARK_MIN_SCHEDULE_INTERVAL: the
// shortest time between two ticks of a schedule (default 1m).
func readMinScheduleInterval() (time.Duration, error) {
	d, err := envDuration("BULWARK_MIN_SCHEDULE_INTERVAL", schedule.DefaultMinInterval)
	if err != nil {
		return 0, err
	}
	if d < time.Second {
		return 0, usagef("BULWARK_MIN_SCHEDULE_INTERVAL: at least 1s")
	}
	return d, nil
}

// startScheduler fires the schedules of the store while ctx lasts, each
// tick once however many servers share the store.
func startScheduler(ctx context.Context, db store, submit func(context.Context, bulwark.TenantID, string, bulwark.Task) (bulwark.Task, error), chains *audit.Chains) {
	sch := schedule.New(schedule.Config{Store: db, Submit: submit, Audit: chains, Logger: slog.Default()})
	go sch.Run(ctx)
}
