package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a statement waits for another connection's (or
// process's) write lock before it fails.
const busyTimeout = 10 * time.Second

// Config is what Open needs.
type Config struct {
	// Path is the database file; it is created, mode 0600, if missing.
	Path string
	// Keys are the master keys. Required.
	Keys *secret.Keyring
	// KeyFile is the file Keys were read from, or "" when they came from
	// elsewhere (the environment). RotateMaster and RetireMaster rewrite
	// it, and refuse to run without it; when another process has rotated,
	// a data key wrapped by a version this process lacks makes it re-read
	// the file, so a running server keeps working through a rotation.
	KeyFile string
	// KeySource describes where Keys came from, for KeyStatus
	// (e.g. "BULWARK_MASTER_KEY"). Empty means KeyFile.
	KeySource string
}

// DB is the SQLite store. It is safe for concurrent use. Writes go through
// one connection (SQLite has one writer; queuing them in-process avoids
// lock errors), reads through several.
type DB struct {
	w, r *sql.DB
	cfg  Config
	now  func() time.Time

	keys     atomic.Pointer[secret.Keyring]
	reloadMu sync.Mutex // serializes re-reading the key file

	dkMu     sync.RWMutex
	dataKeys map[bulwark.TenantID]*tenantKeys // unwrapped data keys, by tenant

	stmts stmtCache // prepared statements of hot reads (stmt.go)

	auth  *authVersion  // the version of keys, users and settings, shared with other processes (authversion.go)
	tasks *taskVersions // the versions of tasks, shared likewise (taskversion.go)
}

var _ bulwark.Store = (*DB)(nil)

// Open opens (creating if needed) the database at cfg.Path, applies the
// migrations it lacks, and checks that cfg.Keys opens its data keys. A
// master key that does not is an Unauthenticated error saying so, not a
// store that returns empty data.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	const op = "sqlite.Open"
	if cfg.Keys == nil {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "no master key was given")
	}
	if strings.ContainsAny(cfg.Path, "?#") || cfg.Path == "" {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the database path must not be empty or contain ? or #")
	}
	if err := createFile(cfg.Path); err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot create the database in the data folder", err)
	}
	db := &DB{cfg: cfg, now: time.Now, dataKeys: map[bulwark.TenantID]*tenantKeys{}}
	db.keys.Store(cfg.Keys)
	var err error
	if db.auth, err = openAuthVersion(cfg.Path); err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot open the database's "+authFileSuffix+" file in the data folder", err)
	}
	if db.tasks, err = openTaskVersions(cfg.Path); err != nil {
		db.auth.close()
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot open the database's "+taskFileSuffix+" file in the data folder", err)
	}
	if db.w, err = openPool(cfg.Path, false); err != nil {
		db.auth.close()
		db.tasks.close()
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot open the database", err)
	}
	db.w.SetMaxOpenConns(1)
	if db.r, err = openPool(cfg.Path, true); err != nil {
		db.w.Close()
		db.auth.close()
		db.tasks.close()
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot open the database", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	db.r.SetMaxOpenConns(readers)
	// As many kept idle as may be open (database/sql keeps 2): under more
	// concurrent reads than that, connections were closed and opened
	// again, with their prepared statements, at every burst.
	db.r.SetMaxIdleConns(readers)
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.checkKeys(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// createFile makes the database file with mode 0600 before SQLite does (it
// would use 0644); SQLite gives its -wal and -shm files the same mode.
func createFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func openPool(p string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode: a commit survives a crash of the process, and
	// costs no fsync; the last commits may be lost on power failure.
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate") // take the write lock at BEGIN, not at the first write
	}
	db, err := sql.Open("sqlite", p+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Close closes the database. Idle connections are closed at once; it waits
// for running statements.
func (db *DB) Close() error {
	db.closeStmts()
	return errors.Join(db.r.Close(), db.w.Close(), db.auth.close(), db.tasks.close())
}

// migrate applies, in order, each embedded migration not yet recorded in
// schema_migrations, each in its own transaction with its record. The
// write transaction is taken at BEGIN, so two processes opening a new data
// folder at once apply each migration once.
func (db *DB) migrate(ctx context.Context) error {
	const op = "sqlite.migrate"
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL) STRICT`); err != nil {
		return bulwark.E(bulwark.Unavailable, op, "cannot prepare the database", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return bulwark.E(bulwark.Internal, op, "cannot read the migrations", err)
	}
	slices.Sort(names)
	known := 0
	for _, name := range names {
		v, err := migrationVersion(name)
		if err != nil {
			return bulwark.E(bulwark.Internal, op, "a migration is misnamed", err)
		}
		known = max(known, v)
		text, err := migrations.ReadFile(name)
		if err != nil {
			return bulwark.E(bulwark.Internal, op, "cannot read the migrations", err)
		}
		if err := db.applyMigration(ctx, v, path.Base(name), string(text)); err != nil {
			return bulwark.E(bulwark.Unavailable, op, "cannot update the database to this version of bulwark", err)
		}
	}
	var newest sql.NullInt64
	if err := db.w.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return bulwark.E(bulwark.Unavailable, op, "cannot read the database version", err)
	}
	if int(newest.Int64) > known {
		return bulwark.Errorf(bulwark.Invalid, op, "the data folder was written by a newer version of bulwark (database version %d, this one knows %d): upgrade bulwark", newest.Int64, known)
	}
	return nil
}

// fkOffMarker, a line of a migration, runs it with foreign keys off: a
// migration that rebuilds a table (SQLite cannot drop a constraint) must
// not cascade the drop of the old table to the rows that refer to it.
// foreign_key_check runs before its commit.
const fkOffMarker = "-- bulwark:foreign-keys-off"

func (db *DB) applyMigration(ctx context.Context, v int, name, text string) error {
	if strings.Contains(text, "\n"+fkOffMarker+"\n") || strings.HasPrefix(text, fkOffMarker+"\n") {
		return db.applyMigrationFKOff(ctx, v, name, text)
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, text); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`, v, name, db.now().UnixNano())
		return err
	})
}

// applyMigrationFKOff applies a migration as applyMigration does, with
// foreign keys off on the (only) write connection for its transaction,
// and refuses to commit it if any foreign key is then broken.
func (db *DB) applyMigrationFKOff(ctx context.Context, v int, name, text string) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, text); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	broken := rows.Next()
	rows.Close()
	if broken {
		return fmt.Errorf("migration %s: it would break a foreign key", name)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`, v, name, db.now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// migrationVersion reads N from "migrations/000N_what.sql".
func migrationVersion(name string) (int, error) {
	digits, _, _ := strings.Cut(path.Base(name), "_")
	v, err := strconv.Atoi(digits)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s: want NNNN_name.sql", name)
	}
	return v, nil
}

// write runs f in a write transaction and commits it when f returns nil.
func (db *DB) write(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// unavailable wraps a database failure for callers: the message says what
// could not be done, the SQL error stays in Err.
func unavailable(op, what string, err error) error {
	var be *bulwark.Error
	if errors.As(err, &be) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return bulwark.E(bulwark.Canceled, op, "the request was canceled", err)
	}
	return bulwark.E(bulwark.Unavailable, op, "the database could not "+what, err)
}

// unixTime is how times are stored: Unix nanoseconds.
func unixTime(t time.Time) int64 { return t.UnixNano() }

func fromUnix(n int64) time.Time { return time.Unix(0, n).UTC() }
