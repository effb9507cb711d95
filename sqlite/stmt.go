package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache holds prepared read statements for the queries on hot paths
// (authenticating an API key, reading a task): SQLite spends as long
// parsing such a query as running it. database/sql prepares a statement
// again on each pooled connection that needs it.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// readQuery runs query on the read pool through a cached prepared
// statement.
func (db *DB) readQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := db.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// readQueryRow is readQuery for one row.
func (db *DB) readQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := db.readStmt(ctx, query)
	if err != nil {
		return db.r.QueryRowContext(ctx, query, args...) // reports the error on Scan
	}
	return st.QueryRowContext(ctx, args...)
}

func (db *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c := &db.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[query]; st != nil {
		return st, nil
	}
	st, err := db.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

// closeStmts closes the cached statements.
func (db *DB) closeStmts() {
	c := &db.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}
