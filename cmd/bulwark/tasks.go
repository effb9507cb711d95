package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/workspace"
)

const tasksUsage = `Usage:
  bulwark tasks list   [--status S] [--tenant T] [--limit N] [--json] [--data DIR]
  bulwark tasks show   ID [--tenant T] [--json] [--data DIR]
  bulwark tasks logs   ID [--follow] [--full] [--json] [--tenant T] [--data DIR]
  bulwark tasks cancel ID [--tenant T] [--data DIR]
  bulwark tasks message ID TEXT... [--tenant T] [--data DIR]
  bulwark tasks files  ID [--out DIR] [--tenant T] [--data DIR]

The tasks of the data folder, run by 'bulwark run' or by 'bulwark serve' on
the same folder (it may be running). --tenant defaults to the local tenant,
the one 'bulwark run' works in.

list shows the newest tasks first (--status: queued, running, waiting,
succeeded, failed, canceled or interrupted; several with commas).
show prints a task's status, usage (tokens, cost, time) and answer.
logs prints its steps as 'bulwark run' showed them; --full shows whole tool
results and arguments. --follow follows the conversation as 'tail -f' does
a file: new steps show as they are stored, and when a turn ends it waits
for the next one (a message continues a stopped task) until Ctrl-C.
cancel ends a task: one that no process runs any more (interrupted) at once;
one that a 'bulwark serve' or 'bulwark run' on the same data folder runs is
asked to stop through the store, and the command waits for it to end.
message sends TEXT to a task that a 'bulwark serve' or 'bulwark run' on the
folder runs: the answer to its question if it asked one, else a message it
reads before its next step (a stopped task goes on with
'bulwark run --continue ID TEXT', or a message through the server).
files writes the task's files into --out (default ./ID).

Example:
  bulwark tasks list --status running
  bulwark tasks logs --follow t_0123456789abcdef`

func cmdTasks(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, tasksUsage, s); done {
		return code
	}
	sub := args[0]
	switch sub {
	case "list", "show", "logs", "cancel", "files", "message":
	default:
		return fail(s, usagef("tasks: unknown subcommand %q: list, show, logs, cancel, message or files (see 'bulwark help tasks')", sub))
	}
	fs := newFlagSet("tasks "+sub, tasksUsage)
	var o tasksFlags
	o.where = addStoreFlags(fs)
	fs.StringVar(&o.tenant, "tenant", "", "the tenant's `NAME` (default: the local tenant)")
	switch sub {
	case "list":
		fs.StringVar(&o.status, "status", "", "only tasks with this `STATUS` (comma-separated)")
		fs.IntVar(&o.limit, "limit", 50, "most tasks shown")
		fs.BoolVar(&o.json, "json", false, "print JSON")
	case "show":
		fs.BoolVar(&o.json, "json", false, "print JSON")
	case "logs":
		fs.BoolVar(&o.follow, "follow", false, "follow the conversation: new steps, and later turns, until Ctrl-C")
		fs.BoolVar(&o.full, "full", false, "show whole tool results and arguments")
		fs.BoolVar(&o.json, "json", false, "print one JSON event per line")
	case "files":
		fs.StringVar(&o.out, "out", "", "write the files into `DIR` (default ./ID)")
	}
	pos, err := fs.parseMixed(args[1:], s)
	if err != nil {
		return fail(s, err)
	}
	switch {
	case sub == "list" && len(pos) > 0:
		return fail(s, usagef("tasks list: unexpected argument %q", pos[0]))
	case sub == "message" && len(pos) < 2:
		return fail(s, usagef("tasks message: give a task ID and the text (see bulwark tasks list)"))
	case sub == "message":
		o.id, o.text = pos[0], strings.Join(pos[1:], " ")
	case sub != "list" && sub != "message" && len(pos) != 1:
		return fail(s, usagef("tasks %s: give one task ID (see bulwark tasks list)", sub))
	case sub != "list":
		o.id = pos[0]
	}
	if err := runTasks(ctx, sub, o, s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

type tasksFlags struct {
	where                         *storeFlags
	tenant, status, out, id, text string
	limit                         int
	json, follow, full            bool
}

func runTasks(ctx context.Context, sub string, o tasksFlags, s stdio) error {
	var status []bulwark.TaskStatus
	if sub == "list" {
		if o.limit <= 0 {
			return usagef("tasks list: --limit must be positive")
		}
		for _, st := range strings.Split(o.status, ",") {
			if st = strings.TrimSpace(st); st == "" {
				continue
			}
			if !knownStatus(bulwark.TaskStatus(st)) {
				return usagef("tasks list: --status %q: want queued, running, waiting, succeeded, failed, canceled or interrupted", st)
			}
			status = append(status, bulwark.TaskStatus(st))
		}
	}
	db, tenant, data, err := openTaskTenant(ctx, *o.where, o.tenant, s)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "list":
		return tasksList(ctx, db, tenant, status, o, s)
	case "show":
		return tasksShow(ctx, db, tenant, o, s)
	case "logs":
		return tasksLogs(ctx, db, tenant, o, s)
	case "cancel":
		return tasksCancel(ctx, db, tenant, data, o.id, s)
	case "message":
		return tasksMessage(ctx, db, tenant, data, o, s)
	}
	return tasksFiles(ctx, db, tenant, data, o, s)
}

func knownStatus(st bulwark.TaskStatus) bool {
	switch st {
	case bulwark.TaskQueued, bulwark.TaskRunning, bulwark.TaskWaiting, bulwark.TaskSucceeded,
		bulwark.TaskFailed, bulwark.TaskCanceled, bulwark.TaskInterrupted:
		return true
	}
	return false
}

// openTaskTenant opens the data folder's store and finds the tenant named
// name, or the local tenant when name is empty; it returns the data folder
// too.
func openTaskTenant(ctx context.Context, where storeFlags, name string, s stdio) (store, bulwark.TenantID, string, error) {
	if name == "" || name == bulwark.LocalTenantName {
		db, t, data, err := openLocalStore(ctx, where, s.err)
		return db, t.ID, data, err
	}
	db, data, err := openStore(ctx, where, s.err)
	if err != nil {
		return nil, "", "", err
	}
	t, err := db.TenantByName(ctx, name)
	if err != nil {
		db.Close()
		if bulwark.ErrorKind(err) == bulwark.NotFound {
			return nil, "", "", usagef("no tenant is named %q (see bulwark tenants list)", name)
		}
		return nil, "", "", err
	}
	return db, t.ID, data, nil
}

// taskOf reads one task, with a message that says what to do when the ID
// is not one of the tenant's tasks.
func taskOf(ctx context.Context, db store, tenant bulwark.TenantID, id string) (bulwark.Task, error) {
	t, err := db.Task(ctx, tenant, id)
	if bulwark.ErrorKind(err) == bulwark.NotFound || bulwark.ErrorKind(err) == bulwark.Invalid {
		return t, notTenantsTask(ctx, db, tenant, id, "tasks")
	}
	return t, err
}

// notTenantsTask is the error for a task ID that is not one of tenant's
// tasks: it names the tenant looked in and, when another tenant of the
// data folder has the task (the terminal sees them all), the --tenant
// that finds it.
func notTenantsTask(ctx context.Context, db store, tenant bulwark.TenantID, id, op string) error {
	name := string(tenant)
	if t, err := db.Tenant(ctx, tenant); err == nil {
		name = t.Name
	}
	if all, err := db.ListTenants(ctx); err == nil {
		for _, other := range all {
			if other.ID == tenant {
				continue
			}
			if _, err := db.Task(ctx, other.ID, id); err == nil {
				return bulwark.Errorf(bulwark.NotFound, op, "task %s is a task of the tenant %s, not of %s: add --tenant %s", id, printable(other.Name), printable(name), printable(other.Name))
			}
		}
	}
	return bulwark.Errorf(bulwark.NotFound, op, "no task %q in the tenant %s (see bulwark tasks list, and --tenant NAME)", printable(id), printable(name))
}

func tasksList(ctx context.Context, db store, tenant bulwark.TenantID, status []bulwark.TaskStatus, o tasksFlags, s stdio) error {
	page, err := db.QueryTasks(ctx, tenant, bulwark.TaskQuery{Status: status, Limit: o.limit})
	if err != nil {
		return err
	}
	red, err := (&shownMask{db: db, tenant: tenant}).current(ctx)
	if err != nil {
		return err
	}
	for i := range page.Tasks {
		page.Tasks[i].Mask(red.String)
	}
	if o.json {
		enc := json.NewEncoder(s.out)
		for _, t := range page.Tasks {
			if err := enc.Encode(t); err != nil {
				return err
			}
		}
		return nil
	}
	if len(page.Tasks) == 0 {
		fmt.Fprintln(s.out, "no tasks")
		return nil
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tCREATED\tMODEL\tINPUT")
	for _, t := range page.Tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Status, t.Created.Local().Format("2006-01-02 15:04"),
			cut(modelShown(t.Model), 30), printable(oneLine(t.Input, 50))+turnsShown(t.Turns))
	}
	if page.More {
		fmt.Fprintf(tw, "… more: --limit %d\t\t\t\t\n", o.limit*2)
	}
	return tw.Flush()
}

// taskSummary is what `tasks show` reports: the task (with its usage over
// every turn, which the store keeps) and its steps and time.
type taskSummary struct {
	bulwark.Task
	Steps    int           `json:"steps"`
	Duration time.Duration `json:"duration_ns"`
}

// summarize finds a task's steps and time from its events: the time its
// turns ran, each from its start to its end (now, while it runs), without
// the time a conversation waited for its next message.
func summarize(t bulwark.Task, events []bulwark.Event) taskSummary {
	sum := taskSummary{Task: t}
	var start time.Time
	for _, e := range events {
		switch e.Type {
		case bulwark.EventTaskStarted:
			if start.IsZero() {
				start = e.Time
			}
		case bulwark.EventTaskFinished:
			if !start.IsZero() {
				sum.Duration += e.Time.Sub(start)
			}
			start = time.Time{}
		}
		sum.Steps = max(sum.Steps, e.Step)
	}
	if !start.IsZero() {
		sum.Duration += time.Since(start)
	}
	return sum
}

// modelShown is a task's model as the terminal shows it: a task that names
// none runs on its tenant's or the server's default.
func modelShown(model string) string {
	if model == "" {
		return "(default)"
	}
	return printable(model)
}

func tasksShow(ctx context.Context, db store, tenant bulwark.TenantID, o tasksFlags, s stdio) error {
	t, err := taskOf(ctx, db, tenant, o.id)
	if err != nil {
		return err
	}
	events, err := db.Events(ctx, tenant, t.ID, 0, 0)
	if err != nil {
		return err
	}
	red, err := (&shownMask{db: db, tenant: tenant}).current(ctx)
	if err != nil {
		return err
	}
	t.Mask(red.String)
	sum := summarize(t, events)
	if o.json {
		return json.NewEncoder(s.out).Encode(sum)
	}
	st := string(t.Status)
	if t.Reason != "" && !t.Reason.Success() {
		st += " (" + string(t.Reason) + ")"
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "task\t%s\n", t.ID)
	fmt.Fprintf(tw, "status\t%s\n", st)
	fmt.Fprintf(tw, "created\t%s\n", t.Created.Local().Format(time.DateTime))
	fmt.Fprintf(tw, "model\t%s\n", modelShown(t.Model))
	fmt.Fprintf(tw, "input\t%s\n", printable(oneLine(t.Input, 200)))
	if t.Turns > 1 {
		fmt.Fprintf(tw, "turns\t%d (a conversation: bulwark tasks logs %s shows every message)\n", t.Turns, t.ID)
	}
	fmt.Fprintf(tw, "steps\t%d model turns (of %d)\n", sum.Steps, t.Limits.WithDefaults().MaxSteps)
	fmt.Fprintf(tw, "tokens\t%d (%d in, %d out)\n", sum.Usage.Tokens(), sum.Usage.InputTokens, sum.Usage.OutputTokens)
	if sum.Usage.Cost > 0 {
		fmt.Fprintf(tw, "cost\t$%.4f\n", sum.Usage.Cost)
	}
	fmt.Fprintf(tw, "time\t%s\n", sum.Duration.Round(100*time.Millisecond))
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case t.Answer != "" && t.Reason.Success():
		fmt.Fprintf(s.out, "\nanswer:\n%s\n", visible(t.Answer))
	case t.Answer != "":
		fmt.Fprintf(s.out, "\nwhy it stopped: %s\n", visible(t.Answer))
	case !t.Status.Ended():
		fmt.Fprintf(s.out, "\nnot finished: follow it with bulwark tasks logs --follow %s\n", t.ID)
	}
	return nil
}

// logsPoll is how often `tasks logs --follow` looks for new steps. A
// follow ends only with Ctrl-C (ctx): a stopped task goes on when a
// person sends it a message, in this process or another, and a person
// following a conversation wants to see that turn too.
const logsPoll = 300 * time.Millisecond

func tasksLogs(ctx context.Context, db store, tenant bulwark.TenantID, o tasksFlags, s stdio) error {
	t, err := taskOf(ctx, db, tenant, o.id)
	if err != nil {
		return err
	}
	view := jsonView(s.out)
	if !o.json {
		tv := newTermView(s.out)
		tv.taskID, tv.full, tv.fromStore = t.ID, o.full, true
		view = tv.show
	}
	// Each batch is masked with the tenant's secrets as they are then: a
	// follow sees a secret set in another process from its next batch.
	mask := &shownMask{db: db, tenant: tenant}
	var red *secret.Redactor
	show := func(e bulwark.Event) {
		e.Mask(red.String)
		view(e)
	}
	var after int64
	noted := 0 // the turn whose end was shown
	for {
		events, err := db.Events(ctx, tenant, t.ID, after, 500)
		if err != nil {
			return err
		}
		if red, err = mask.current(ctx); err != nil {
			return err
		}
		for _, e := range events {
			show(e)
			after = e.Seq
		}
		if len(events) == 500 {
			continue // more are stored
		}
		if !o.follow {
			return nil
		}
		if t, err = db.Task(ctx, tenant, t.ID); err != nil {
			return err
		}
		if (t.Status.Ended() || t.Status == bulwark.TaskInterrupted) && noted != t.Turns {
			// Read once more: the last steps may have been stored
			// between the two reads.
			rest, err := db.Events(ctx, tenant, t.ID, after, 0)
			if err != nil {
				return err
			}
			if red, err = mask.current(ctx); err != nil {
				return err
			}
			for _, e := range rest {
				show(e)
				after = e.Seq
			}
			if !o.json {
				if t.Status == bulwark.TaskInterrupted {
					fmt.Fprintf(s.out, "\n! the task was interrupted (the process running it stopped)\n")
				}
				fmt.Fprintf(s.out, "\n… following the conversation: a message to the task continues it here (Ctrl-C to stop)\n")
			}
			noted = t.Turns
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(logsPoll):
		}
	}
}

// tasksFiles writes a task's files into o.out: from its workspace folder
// while it has one (a task of 'bulwark run', or one a server still runs),
// else from the store, where a server seals the files of stopped tasks.
func tasksFiles(ctx context.Context, db store, tenant bulwark.TenantID, data string, o tasksFlags, s stdio) error {
	t, err := taskOf(ctx, db, tenant, o.id)
	if err != nil {
		return err
	}
	out := o.out
	if out == "" {
		out = t.ID
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return bulwark.E(bulwark.Unavailable, "tasks files", "cannot create "+out+": "+errText(err), err)
	}
	dst, err := workspace.Open(out)
	if err != nil {
		return err
	}
	defer dst.Close()
	n := 0
	put := func(name string, content []byte) error {
		if err := dst.WriteFile(name, content); err != nil {
			return fmt.Errorf("write %s: %s", printableName(name), userMessage(err))
		}
		fmt.Fprintf(s.out, "%s\n", printableName(filepath.Join(out, filepath.FromSlash(name))))
		n++
		return nil
	}
	if dir := taskWorkspace(data, tenant, t.ID); dir != "" {
		src, err := workspace.Open(dir)
		if err != nil {
			return err
		}
		defer src.Close()
		err = src.Walk(".", func(name string, info fs.FileInfo) error {
			if !info.Mode().IsRegular() {
				return nil
			}
			content, err := src.ReadFile(name)
			if err != nil {
				return err
			}
			return put(name, content)
		})
		if err != nil {
			return err
		}
	} else {
		arts, err := db.Artifacts(ctx, tenant, t.ID)
		if err != nil {
			return err
		}
		for _, a := range arts {
			_, content, err := db.ArtifactContent(ctx, tenant, t.ID, a.Path)
			if err != nil {
				return err
			}
			if err := put(a.Path, content); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		fmt.Fprintf(s.err, "bulwark: task %s has no files here (a task run with 'bulwark run --workspace DIR' keeps them in DIR)\n", t.ID)
	}
	return nil
}

// taskWorkspace is the workspace folder of a task in the data folder: a
// server's (workspaces/TENANT/TASK) or 'bulwark run”s (workspaces/TASK),
// or "" when there is none (its files were sealed into the store, or
// 'bulwark run --workspace' put them elsewhere).
func taskWorkspace(data string, tenant bulwark.TenantID, id string) string {
	for _, dir := range []string{filepath.Join(data, "workspaces", string(tenant), id), filepath.Join(data, "workspaces", id)} {
		if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
			return dir
		}
	}
	return ""
}

// turnsShown marks a conversation in the task list.
func turnsShown(turns int) string {
	if turns > 1 {
		return fmt.Sprintf(" (%d turns)", turns)
	}
	return ""
}
