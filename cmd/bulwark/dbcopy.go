package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// `bulwark db copy`: a whole installation's store moved between SQLite and
// PostgreSQL (either way, or SQLite to SQLite), table by table in
// foreign-key order, rows verbatim: sealed columns stay sealed, so the
// target opens only with the source's master key. Both ends are opened
// through the store first (the source to check the key and bring it to
// this build's schema, the target to make its schema); the rows then move
// with database/sql in one transaction on the target, checked by counts
// before it commits; and the target is opened again with the key and read
// back against the source.

// copyTables are the tables copied, in foreign-key order. Both stores have
// the same tables with the same columns (columns are matched by name, and a
// table whose columns differ stops the copy).
var copyTables = sqlite.Tables

// selfRefs are the tables that refer to themselves: each row's parent
// (the row whose key the column holds) is inserted before it.
// TestSelfRefsMatchTheSchema keeps this in step with the schema.
var selfRefs = lazy.Value[map[string]selfRef]{New: func() map[string]selfRef {
	return map[string]selfRef{
		"api_keys": {"id", "creator_key"},
	}
}}

// selfRef is a table's key column and the column naming its parent row.
type selfRef struct{ key, parent string }

// tableCount is how many rows a table holds.
type tableCount struct {
	table string
	rows  int64
}

// copyEnd parses --from or --to: a postgres:// URL, or the path of a data
// folder (made absolute).
func copyEnd(flagName, v string) (storeLocation, error) {
	if v == "" {
		return storeLocation{}, usagef("db copy: give %s PATH-OR-URL (a data folder, or a postgres:// URL)", flagName)
	}
	if strings.Contains(v, "://") {
		if _, err := postgresURL(flagName, v); err != nil {
			return storeLocation{}, err
		}
		hidePasswords(v)
		return storeLocation{url: v}, nil
	}
	dir, err := filepath.Abs(v)
	if err != nil {
		return storeLocation{}, usagef("db copy: %s %q is not a usable path", flagName, v)
	}
	return storeLocation{dir: dir}, nil
}

// sameLocation reports whether a and b are plainly the same database.
func sameLocation(a, b storeLocation) bool {
	if a.postgres() || b.postgres() {
		return a.url == b.url
	}
	ra, err1 := filepath.EvalSymlinks(a.dir)
	rb, err2 := filepath.EvalSymlinks(b.dir)
	if err1 != nil || err2 != nil {
		return a.dir == b.dir
	}
	return ra == rb
}

// copyKey finds the master key of a copy: BULWARK_MASTER_KEY or
// BULWARK_MASTER_KEY_FILE, which a PostgreSQL end requires; between two
// data folders, else the source folder's master.key, which the target
// folder then gets too (the same file, or none there yet).
func copyKey(from, to storeLocation) (src, dst masterKey, err error) {
	const op = "db copy"
	mk, ok, err := envMasterKey()
	if err != nil || ok {
		return mk, mk, err
	}
	if from.postgres() || to.postgres() {
		return mk, mk, errNoPostgresKey
	}
	path := filepath.Join(from.dir, masterKeyFileName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return mk, mk, bulwark.Errorf(bulwark.Invalid, op, "the source data folder has no master.key: set BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE to the key it was written with")
	}
	kr, err := secret.ReadKeyFile(path)
	if err != nil {
		return mk, mk, keyFileError(op, path, err)
	}
	src = masterKey{keys: kr, file: path}
	target := filepath.Join(to.dir, masterKeyFileName)
	switch have, err := os.ReadFile(target); {
	case err == nil && !bytes.Equal(have, raw):
		return mk, mk, bulwark.Errorf(bulwark.Conflict, op, "the target data folder has a master.key of its own, not the source's: remove it, or give the source's key with BULWARK_MASTER_KEY_FILE")
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(to.dir, 0o700); err != nil {
			return mk, mk, bulwark.E(bulwark.Unavailable, op, "cannot create the target data folder "+to.dir+": "+errText(err), err)
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.Write(raw)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			return mk, mk, bulwark.E(bulwark.Unavailable, op, "cannot write the master key into the target data folder: "+errText(err), err)
		}
	default:
		return mk, mk, keyFileError(op, target, err)
	}
	return src, masterKey{keys: kr, file: target}, nil
}

// copyResult is what a copy did.
type copyResult struct {
	counts   []tableCount
	replaced []tableCount // what the target held before --force replaced it
	version  int          // the source's schema version
	keyFile  string       // the master.key written into the target folder, if one was
}

// copyStore copies the store at from into to (see the top of the file),
// showing how far it is on prog.
func copyStore(ctx context.Context, from, to storeLocation, force bool, prog *progress) (copyResult, error) {
	const op = "db copy"
	var res copyResult
	if sameLocation(from, to) {
		return res, usagef("db copy: --from and --to are the same database")
	}
	if (from.postgres() || to.postgres()) && openPostgres == nil {
		return res, errNoPostgresSupport
	}
	if !from.postgres() {
		if fi, err := os.Stat(filepath.Join(from.dir, dbFileName)); err != nil || fi.Size() == 0 {
			return res, bulwark.Errorf(bulwark.NotFound, op, "the source %s holds no store (no %s): --from names a data folder or a postgres:// URL", from.dir, dbFileName)
		}
	}
	if same, err := sameDatabase(ctx, from, to); err != nil || same {
		if err == nil {
			err = usagef("db copy: --from and --to are the same database")
		}
		return res, err
	}
	_, hadKey := os.Stat(filepath.Join(to.dir, masterKeyFileName))
	srcKey, dstKey, err := copyKey(from, to)
	if err != nil {
		return res, err
	}
	if !to.postgres() && hadKey != nil && dstKey.file != "" {
		res.keyFile = dstKey.file
	}
	src, err := openAt(ctx, from, srcKey)
	if err != nil {
		return res, endError("the source", from, err)
	}
	defer src.Close()
	if res.version, err = src.SchemaVersion(ctx); err != nil {
		return res, err
	}
	if !to.postgres() {
		if err := os.MkdirAll(to.dir, 0o700); err != nil {
			return res, bulwark.E(bulwark.Unavailable, op, "cannot create the target data folder "+to.dir+": "+errText(err), err)
		}
	}
	dst, err := openAt(ctx, to, dstKey) // makes the target's schema
	if err != nil {
		err = endError("the target", to, err)
		if force && bulwark.ErrorKind(err) == bulwark.Invalid {
			err = bulwark.E(bulwark.Invalid, "db copy", bulwark.ErrorMessage(err)+
				" (--force cannot empty a target it cannot open: drop and create the database again, or remove its "+dbFileName+")", err)
		}
		return res, err
	}
	if err := dst.Close(); err != nil {
		return res, err
	}
	if res.counts, res.replaced, err = copyRows(ctx, from, to, force, prog); err != nil {
		return res, err
	}
	prog.step("reading the target back")
	dst, err = openAt(ctx, to, dstKey)
	if err != nil {
		return res, bulwark.E(bulwark.Internal, op, "the rows were copied, but the target does not open with the master key: "+bulwark.ErrorMessage(err), err)
	}
	defer dst.Close()
	if err := compareStores(ctx, src, dst); err != nil {
		return res, bulwark.E(bulwark.Internal, op, "the rows were copied, but the target does not read back as the source: "+bulwark.ErrorMessage(err), err)
	}
	return res, nil
}

// endError names the end of a copy that failed to open.
func endError(which string, loc storeLocation, err error) error {
	return bulwark.E(bulwark.ErrorKind(err), "db copy", which+" ("+loc.String()+"): "+userMessage(err), err)
}

// copyRows moves every row of copyTables from from into to, in one
// transaction on to, reading from in one (snapshot) transaction.
func copyRows(ctx context.Context, from, to storeLocation, force bool, prog *progress) (counts, replaced []tableCount, err error) {
	src, err := openRaw(ctx, from, true)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	dst, err := openRaw(ctx, to, false)
	if err != nil {
		return nil, nil, err
	}
	defer dst.Close()
	opts := &sql.TxOptions{ReadOnly: true}
	if from.postgres() {
		opts.Isolation = sql.LevelRepeatableRead // one snapshot for every table
	}
	stx, err := src.BeginTx(ctx, opts)
	if err != nil {
		return nil, nil, src.failed("begin reading", err)
	}
	defer stx.Rollback()
	dtx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, dst.failed("begin writing", err)
	}
	defer dtx.Rollback()

	// The target holds only what opening it wrote (its master key checks),
	// or the copy is refused unless forced.
	for _, t := range copyTables {
		if t == "master_keys" {
			continue
		}
		n, err := dst.count(ctx, dtx, t)
		if err != nil {
			return nil, nil, err
		}
		if n > 0 {
			replaced = append(replaced, tableCount{t, n})
		}
	}
	if len(replaced) > 0 && !force {
		return nil, nil, bulwark.Errorf(bulwark.Conflict, "db copy",
			"the target (%s) already holds data (%s): copy into an empty one, or pass --force to delete everything in it first", to, countText(replaced))
	}
	for _, t := range slices.Backward(copyTables) {
		if _, err := dtx.ExecContext(ctx, "DELETE FROM "+quote(t)); err != nil {
			return nil, nil, dst.failed("empty "+t, err)
		}
	}
	for i, t := range copyTables {
		shown := func(rows int64) { prog.step("table %d of %d, %s: %d rows", i+1, len(copyTables), t, rows) }
		n, err := copyTable(ctx, src, stx, dst, dtx, t, shown)
		if err != nil {
			return nil, nil, err
		}
		want, err := src.count(ctx, stx, t)
		if err != nil {
			return nil, nil, err
		}
		got, err := dst.count(ctx, dtx, t)
		if err != nil {
			return nil, nil, err
		}
		if n != want || got != want {
			return nil, nil, bulwark.Errorf(bulwark.Internal, "db copy", "table %s: the source has %d rows, %d were copied and the target has %d; nothing was committed", t, want, n, got)
		}
		counts = append(counts, tableCount{t, got})
	}
	if to.postgres() {
		if err := advanceIdentities(ctx, dtx); err != nil {
			return nil, nil, dst.failed("advance the identity columns", err)
		}
	}
	commit := dtx.Commit
	if !to.postgres() {
		// A server may hold the target open (--force): the copy moves the
		// versions of its tasks and keys, so that it reads them again.
		commit = func() error { return sqlite.ReplaceRows(filepath.Join(to.dir, dbFileName), dtx.Commit) }
	}
	if err := commit(); err != nil {
		return nil, nil, dst.failed("commit the copy", err)
	}
	return counts, replaced, nil
}

// advanceIdentities moves each identity column's sequence of a PostgreSQL
// target past the values copied into it, so that the next row it numbers
// does not collide with a copied one.
func advanceIdentities(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return err
	}
	var cols [][2]string
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return err
		}
		cols = append(cols, [2]string{t, c})
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, tc := range cols {
		_, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(`+quote(tc[1])+`) FROM `+quote(tc[0])+`), 0) + 1, false)`, tc[0], tc[1])
		if err != nil {
			return err
		}
	}
	return nil
}

// copyTable copies the rows of table and returns how many it inserted,
// telling shown how many it has read as it goes.
func copyTable(ctx context.Context, src *rawDB, stx *sql.Tx, dst *rawDB, dtx *sql.Tx, table string, shown func(rows int64)) (int64, error) {
	cols, err := src.columns(ctx, stx, table)
	if err != nil {
		return 0, err
	}
	dcols, err := dst.columns(ctx, dtx, table)
	if err != nil {
		return 0, err
	}
	if !slices.Equal(slices.Sorted(slices.Values(cols)), slices.Sorted(slices.Values(dcols))) {
		return 0, bulwark.Errorf(bulwark.Internal, "db copy", "table %s has columns %s in the source and %s in the target: the two schemas differ (are both at this bulwark's version?)",
			table, strings.Join(cols, ", "), strings.Join(dcols, ", "))
	}
	quoted := make([]string, len(cols))
	args := make([]string, len(cols))
	for i, c := range cols {
		quoted[i], args[i] = quote(c), dst.arg(i+1)
	}
	list := strings.Join(quoted, ", ")
	ins, err := dtx.PrepareContext(ctx, "INSERT INTO "+quote(table)+" ("+list+") VALUES ("+strings.Join(args, ", ")+")")
	if err != nil {
		return 0, dst.failed("prepare the copy of "+table, err)
	}
	defer ins.Close()
	rows, err := stx.QueryContext(ctx, "SELECT "+list+" FROM "+quote(table))
	if err != nil {
		return 0, src.failed("read "+table, err)
	}
	defer rows.Close()
	insert := func(vals []any) error {
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return dst.failed("insert into "+table, err)
		}
		return nil
	}
	ref, selfRef := selfRefs.Get()[table]
	var held [][]any // rows of a self-referencing table, inserted parents first
	var n int64
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, src.failed("read "+table, err)
		}
		n++
		shown(n)
		if selfRef {
			held = append(held, vals)
			continue
		}
		if err := insert(vals); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, src.failed("read "+table, err)
	}
	if selfRef {
		ordered, err := parentsFirst(held, slices.Index(cols, ref.key), slices.Index(cols, ref.parent))
		if err != nil {
			return n, bulwark.E(bulwark.Internal, "db copy", "table "+table+": "+err.Error(), err)
		}
		for _, vals := range ordered {
			if err := insert(vals); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// parentsFirst orders rows so that a row whose column parent holds the
// key (column key) of another row comes after that row. A parent that is
// not among the rows (NULL, or dangling) puts no constraint; a cycle is an
// error.
func parentsFirst(rows [][]any, key, parent int) ([][]any, error) {
	if key < 0 || parent < 0 {
		return nil, errors.New("the key or parent column is missing")
	}
	str := func(v any) string {
		switch v := v.(type) {
		case nil:
			return ""
		case []byte:
			return string(v)
		}
		return fmt.Sprint(v)
	}
	byKey := make(map[string]int, len(rows))
	for i, r := range rows {
		byKey[str(r[key])] = i
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(rows))
	out := make([][]any, 0, len(rows))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("the rows refer to each other in a cycle (at %s)", str(rows[i][key]))
		}
		state[i] = visiting
		if p, ok := byKey[str(rows[i][parent])]; ok && rows[i][parent] != nil {
			if err := visit(p); err != nil {
				return err
			}
		}
		state[i] = done
		out = append(out, rows[i])
		return nil
	}
	for i := range rows {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// countText lists counts: "tenants 2, tasks 5".
func countText(cs []tableCount) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %d", c.table, c.rows)
	}
	return strings.Join(parts, ", ")
}

// compareStores reads back through the stores what the master key
// unseals, tenant by tenant: every secret with its value, the settings,
// and the newest task with its events. It says where dst differs from
// src.
func compareStores(ctx context.Context, src, dst store) error {
	tenants, err := src.ListTenants(ctx)
	if err != nil {
		return err
	}
	theirs, err := dst.ListTenants(ctx)
	if err != nil {
		return err
	}
	if len(theirs) != len(tenants) {
		return fmt.Errorf("the source has %d tenants, the target %d", len(tenants), len(theirs))
	}
	for _, t := range tenants {
		for _, read := range []struct {
			what string
			get  func(store) (any, error)
		}{
			{"secrets", func(s store) (any, error) { return s.Secrets(ctx, t.ID) }},
			{"settings", func(s store) (any, error) { return s.Settings(ctx, t.ID) }},
			{"newest task", func(s store) (any, error) { return newestTask(ctx, s, t.ID) }},
		} {
			a, err := read.get(src)
			if err != nil {
				return fmt.Errorf("tenant %s: reading the source's %s: %w", t.Name, read.what, err)
			}
			b, err := read.get(dst)
			if err != nil {
				return fmt.Errorf("tenant %s: reading the target's %s: %w", t.Name, read.what, err)
			}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				return fmt.Errorf("tenant %s: the %s differ", t.Name, read.what)
			}
		}
	}
	return nil
}

// newestTask is the tenant's newest task with its events, times in UTC.
func newestTask(ctx context.Context, s store, tenant bulwark.TenantID) (any, error) {
	ts, err := s.ListTasks(ctx, tenant, bulwark.ListTasksOptions{Limit: 1})
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	t, err := s.Task(ctx, tenant, ts[0].ID)
	if err != nil {
		return nil, err
	}
	evs, err := s.Events(ctx, tenant, t.ID, 0, 0)
	if err != nil {
		return nil, err
	}
	for i := range evs {
		evs[i].Time = evs[i].Time.UTC()
	}
	t.Created, t.Started, t.Finished = t.Created.UTC(), t.Started.UTC(), t.Finished.UTC()
	return struct {
		Task   bulwark.Task
		Events []bulwark.Event
	}{t, evs}, nil
}

// printCopy reports a copy on w.
func printCopy(w io.Writer, from, to storeLocation, res copyResult) {
	if len(res.replaced) > 0 {
		fmt.Fprintf(w, "--force: the target held %s; that was deleted and replaced\n", countText(res.replaced))
	}
	fmt.Fprintf(w, "copied %s\n    to %s (schema version %d)\n", from, to, res.version)
	for _, c := range res.counts {
		fmt.Fprintf(w, "  %-18s %d rows\n", c.table, c.rows)
	}
	fmt.Fprintln(w, "the target opens with the master key, and every tenant's secrets, settings and newest task read back as in the source")
	if res.keyFile != "" {
		fmt.Fprintf(w, "the source's master key was copied to %s: move it out of the data folder (BULWARK_MASTER_KEY_FILE) as for the source\n", res.keyFile)
	}
	fmt.Fprintln(w, "the audit log and its signing key were not copied: they stay with the source (in its data folder, or its PostgreSQL database), and the target starts its own")
	fmt.Fprintln(w, "the device key and the workspaces were not copied: they stay in the data folder")
}
