package main

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sqlite"
	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx", for db copy and doctor
	_ "modernc.org/sqlite"             // the database/sql driver "sqlite"
)

// postgresLatestSchema returns the schema version this build's PostgreSQL
// store migrates to; nil in a build without PostgreSQL support (set beside
// openPostgres). A function, so that the migrations are read when a
// command asks, not in every command's init.
var postgresLatestSchema func() int

// latestSchema is the schema version this build migrates loc's kind of
// database to, or 0 when it does not know.
func latestSchema(loc storeLocation) int {
	if loc.postgres() {
		if postgresLatestSchema == nil {
			return 0
		}
		return postgresLatestSchema()
	}
	return sqlite.LatestSchemaVersion()
}

// rawDB is a store's database opened with database/sql, below the store:
// db copy moves rows with it verbatim (sealed columns stay sealed), and
// doctor reads the schema version without migrating anything.
type rawDB struct {
	*sql.DB
	loc storeLocation
}

// openRaw opens the database at loc. readOnly opens SQLite query-only.
func openRaw(ctx context.Context, loc storeLocation, readOnly bool) (*rawDB, error) {
	const op = "db"
	var (
		db  *sql.DB
		err error
	)
	if loc.postgres() {
		db, err = sql.Open("pgx", loc.url)
	} else {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		if readOnly {
			q.Set("mode", "ro") // and never create the file
			q.Add("_pragma", "query_only(1)")
		} else {
			q.Set("_txlock", "immediate")
		}
		db, err = sql.Open("sqlite", "file:"+filepath.Join(loc.dir, dbFileName)+"?"+q.Encode())
	}
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot open the "+loc.String()+": "+scrubURL(err.Error(), loc.url), err)
	}
	db.SetMaxOpenConns(2)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot connect to the "+loc.String()+": "+scrubURL(err.Error(), loc.url), err)
	}
	return &rawDB{db, loc}, nil
}

// arg is the placeholder of the i-th (from 1) argument of a statement.
func (r *rawDB) arg(i int) string {
	if r.loc.postgres() {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}

// quote quotes an identifier (a table or column name).
func quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// schemaVersion reads the newest migration applied to the database, 0
// when none was (the schema_migrations table, which both stores keep).
func (r *rawDB) schemaVersion(ctx context.Context, q queryer) (int, error) {
	exists := `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`
	if r.loc.postgres() {
		exists = `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = 'schema_migrations' AND schemaname = ANY (current_schemas(false))`
	}
	var n int
	if err := q.QueryRowContext(ctx, exists).Scan(&n); err != nil {
		return 0, r.failed("read the schema version", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, r.failed("read the schema version", err)
	}
	return int(v.Int64), nil
}

// count is the number of rows of table.
func (r *rawDB) count(ctx context.Context, q queryer, table string) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quote(table)).Scan(&n); err != nil {
		return 0, r.failed("count the rows of "+table, err)
	}
	return n, nil
}

// columns are the names of table's columns.
func (r *rawDB) columns(ctx context.Context, q queryer, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT * FROM "+quote(table)+" WHERE 1 = 0")
	if err != nil {
		return nil, r.failed("read the columns of "+table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, r.failed("read the columns of "+table, err)
	}
	return cols, nil
}

// failed wraps a database error: what says what could not be done; the
// driver's text is shown without the URL's password.
func (r *rawDB) failed(what string, err error) error {
	if be := (*bulwark.Error)(nil); errors.As(err, &be) {
		return err
	}
	return bulwark.E(bulwark.Unavailable, "db", "cannot "+what+" in the "+r.loc.String()+": "+scrubURL(err.Error(), r.loc.url), err)
}

// sameDatabase reports whether a and b are one database under two
// spellings: the same file for SQLite, the same server, port and database
// for PostgreSQL (it connects to both).
func sameDatabase(ctx context.Context, a, b storeLocation) (bool, error) {
	if a.postgres() != b.postgres() {
		return false, nil
	}
	if !a.postgres() {
		fa, err1 := os.Stat(filepath.Join(a.dir, dbFileName))
		fb, err2 := os.Stat(filepath.Join(b.dir, dbFileName))
		return err1 == nil && err2 == nil && os.SameFile(fa, fb), nil
	}
	var ids [2]string
	for i, loc := range []storeLocation{a, b} {
		r, err := openRaw(ctx, loc, true)
		if err != nil {
			return false, err
		}
		err = r.QueryRowContext(ctx, `SELECT current_database() || ' ' || COALESCE(host(inet_server_addr()), 'socket') || ' ' || COALESCE(inet_server_port(), 0)::text`).Scan(&ids[i])
		r.Close()
		if err != nil {
			return false, r.failed("identify the database", err)
		}
	}
	return ids[0] == ids[1], nil
}
