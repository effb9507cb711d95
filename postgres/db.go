package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Defaults of Config.
const (
	DefaultMaxConns         = 10
	DefaultStatementTimeout = 30 * time.Second
)

// Advisory lock keys (pg_advisory_lock): one for migrations, one that
// master key rotation holds exclusively and wrapping a new data key holds
// shared. The numbers are arbitrary, fixed, and spell "bulwark".
const (
	lockMigrate int64 = 0x62756c7761726b01
	lockKeys    int64 = 0x62756c7761726b02
)

// Config is what Open needs.
type Config struct {
	// URL is the database, as a postgres:// URL or a key=value connection
	// string.
	URL string
	// Keys are the master keys. Required: a PostgreSQL store never makes
	// one, since every node must use the same.
	Keys *secret.Keyring
	// KeySource describes where Keys came from, for KeyStatus
	// (e.g. "BULWARK_MASTER_KEY").
	KeySource string
	// MaxConns is the most connections of the pool; <= 0 means
	// DefaultMaxConns.
	MaxConns int32
	// StatementTimeout bounds each statement on the server; <= 0 means
	// DefaultStatementTimeout.
	StatementTimeout time.Duration
	// OnRotateMaster, when set, runs in RotateMaster's transaction (which
	// holds the key lock exclusively) once the data keys are re-wrapped
	// with keys' current version: for the parts of Bulwark that keep a
	// key of their own sealed with the master key in this database (the
	// audit signing key), so that it follows the rotation in the same
	// transaction. An error undoes the rotation.
	OnRotateMaster func(ctx context.Context, tx *sql.Tx, keys *secret.Keyring) error
	// OnRetireMaster, when set, runs in RetireMaster's transaction before
	// master key version is forgotten; an error (a bulwark Conflict that
	// says what still needs the version) keeps it.
	OnRetireMaster func(ctx context.Context, tx *sql.Tx, version int) error
}

// DB is the PostgreSQL store. It is safe for concurrent use, and several
// processes may use one database at once.
type DB struct {
	pool *pgxpool.Pool
	db   *sql.DB // database/sql over pool
	cfg  Config
	now  func() time.Time

	keys atomic.Pointer[secret.Keyring]

	dkMu     sync.RWMutex
	dataKeys map[bulwark.TenantID]*tenantKeys // unwrapped data keys, by tenant
}

// The store interfaces of the root package that DB implements, as
// *sqlite.DB does (internal/storetest checks that both behave alike).
var _ interface {
	bulwark.Store
	bulwark.ArtifactStore
	bulwark.UsageStore
	bulwark.TaskQuerier
	bulwark.CheckpointStore
	bulwark.ControlStore
} = (*DB)(nil)

// Open connects to the database at cfg.URL, applies the migrations it
// lacks (under an advisory lock, so nodes starting together apply each
// once), and checks that cfg.Keys opens its data keys. A master key that
// does not is an Invalid error saying so, not a store that returns empty
// or corrupted data.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	const op = "postgres.Open"
	if cfg.Keys == nil {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "no master key was given: set BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE (every node needs the same one)")
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.StatementTimeout <= 0 {
		cfg.StatementTimeout = DefaultStatementTimeout
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The error may quote the URL, password included: keep it out of
		// the message.
		return nil, bulwark.Errorf(bulwark.Invalid, op, "the database URL is not valid")
	}
	pc.MaxConns = cfg.MaxConns
	pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot connect to the database", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot connect to the database", err)
	}
	db := &DB{pool: pool, db: stdlib.OpenDBFromPool(pool), cfg: cfg, now: time.Now, dataKeys: map[bulwark.TenantID]*tenantKeys{}}
	db.keys.Store(cfg.Keys)
	if err := db.migrate(ctx, pc.ConnConfig.Copy()); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.checkKeys(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Pool is the connection pool, for the parts of Bulwark that keep their
// own tables in this database (the job queue, shared counters). It is
// closed by Close.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close closes the pool, waiting for connections in use to be released.
func (db *DB) Close() error {
	err := db.db.Close()
	db.pool.Close()
	return err
}

// Tables are the store's tables, in foreign-key order: a table comes after
// every table it refers to. They are the tables of sqlite.Tables, with the
// same columns (types mapped: BLOB to bytea, INTEGER to bigint, TEXT to
// text, REAL to double precision), so that a table-by-table copy between
// the backends works; schema_migrations and auth_version (migration
// 0009) are each backend's own.
var Tables = []string{
	"tenants",
	"master_keys",
	"data_keys",
	"users",
	"api_keys",
	"sessions",
	"settings",
	"tasks",
	"events",
	"secrets",
	"artifacts",
	"shared_key_usage",
	"checkpoints",
	"checkpoint_blobs",
	"task_controls",
	"schedules",
	"memories",
	"skills",
	"user_totp",
	"recovery_codes",
}

// LatestSchemaVersion is the newest schema version this build knows: the
// number of its newest migration.
func LatestSchemaVersion() int {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	latest := 0
	for _, n := range names {
		if v, err := migrationVersion(n); err == nil {
			latest = max(latest, v)
		}
	}
	return latest
}

// SchemaVersion returns the schema version of the database: the newest
// migration applied to it.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := db.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, unavailable("postgres.SchemaVersion", "read the schema version", err)
	}
	return int(v.Int64), nil
}

// migrate applies, in order, each embedded migration not yet recorded in
// schema_migrations, each in its own transaction with its record, holding
// a session advisory lock throughout: nodes that start together wait for
// the first, then find nothing left to do. It runs on a connection of its
// own, outside the pool, without the statement timeout: a migration of a
// large database, and the wait for another node's, may take longer.
func (db *DB) migrate(ctx context.Context, cc *pgx.ConnConfig) error {
	const op = "postgres.migrate"
	cc.RuntimeParams["statement_timeout"] = "0"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return bulwark.E(bulwark.Unavailable, op, "cannot connect to the database", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockMigrate); err != nil {
		return bulwark.E(bulwark.Unavailable, op, "cannot lock the database for its migrations", err)
	}
	// Closing the connection releases the lock too.
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockMigrate)
	if err := notAnotherInstallation(ctx, conn); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version bigint PRIMARY KEY, name text NOT NULL, applied bigint NOT NULL)`); err != nil {
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
		if err := db.applyMigration(ctx, conn, v, path.Base(name), string(text)); err != nil {
			return bulwark.E(bulwark.Unavailable, op, "cannot update the database to this version of bulwark", err)
		}
	}
	var newest sql.NullInt64
	if err := conn.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return bulwark.E(bulwark.Unavailable, op, "cannot read the database version", err)
	}
	if int(newest.Int64) > known {
		return bulwark.Errorf(bulwark.Invalid, op, "the database was written by a newer version of bulwark (database version %d, this one knows %d): upgrade bulwark", newest.Int64, known)
	}
	return nil
}

// notAnotherInstallation refuses a database that bulwark did not make
// but that has tables with the names of bulwark's (another program's, or
// a copy without its migration history), before anything is written to
// it.
func notAnotherInstallation(ctx context.Context, conn *pgx.Conn) error {
	var ours bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&ours); err != nil {
		return bulwark.E(bulwark.Unavailable, "postgres.migrate", "cannot read the database's tables", err)
	}
	if ours {
		return nil
	}
	var taken []string
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY($1) ORDER BY table_name`, Tables)
	if err != nil {
		return bulwark.E(bulwark.Unavailable, "postgres.migrate", "cannot read the database's tables", err)
	}
	taken, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return bulwark.E(bulwark.Unavailable, "postgres.migrate", "cannot read the database's tables", err)
	}
	if len(taken) > 0 {
		return bulwark.Errorf(bulwark.Invalid, "postgres.migrate",
			"the database was not made by bulwark but has tables of the names bulwark uses (%s): give bulwark a database (or schema) of its own", strings.Join(taken, ", "))
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, conn *pgx.Conn, v int, name, text string) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, v).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		// No arguments: pgx sends the text with the simple protocol, so a
		// migration may hold several statements.
		if _, err := tx.Exec(ctx, text); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)`, v, name, db.now().UnixNano())
		return err
	})
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

// write runs f in a transaction and commits it when f returns nil.
func (db *DB) write(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
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

// PostgreSQL error codes the store tells apart.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

// isCode reports whether err is a PostgreSQL error with code.
func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// unixTime is how times are stored: Unix nanoseconds, as in package sqlite.
func unixTime(t time.Time) int64 { return t.UnixNano() }

func fromUnix(n int64) time.Time { return time.Unix(0, n).UTC() }
