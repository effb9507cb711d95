package postgres

import (
	"bytes"
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/internal/storetest"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

func TestMain(m *testing.M) { testfamily.Main(m, testfamily.Postgres) }

// TestConformance runs the store suite shared with package sqlite, each
// test on a fresh database.
func TestConformance(t *testing.T) {
	testfamily.Postgres.Require(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		h, err := openHarness(t, pgtest.NewDatabase(t), secret.NewKeyring())
		if err != nil {
			t.Fatal(err)
		}
		return h
	})
}

// harness is a store of the suite.
type harness struct {
	*DB
	url  string
	keys *secret.Keyring
}

func openHarness(t *testing.T, url string, keys *secret.Keyring) (*harness, error) {
	db, err := Open(context.Background(), Config{URL: url, Keys: keys, KeySource: "BULWARK_MASTER_KEY", MaxConns: 4})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { db.Close() })
	return &harness{DB: db, url: url, keys: keys}, nil
}

func (h *harness) Keys() *secret.Keyring { return h.keys }

// Dump is every row of every table of the database, as PostgreSQL prints
// it (bytea in hex).
func (h *harness) Dump(t *testing.T) []byte {
	return dumpRows(t, h.DB)
}

func (h *harness) Reopen(t *testing.T, keys *secret.Keyring) (storetest.Harness, error) {
	h.DB.Close()
	return openHarness(t, h.url, keys)
}

// dumpRows prints every row of every table of the public schema as text.
func dumpRows(t *testing.T, db *DB) []byte {
	t.Helper()
	ctx := context.Background()
	rows, err := db.pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	var out bytes.Buffer
	for _, table := range tables {
		rows, err := db.pool.Query(ctx, `SELECT t::text FROM `+table+` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out.WriteString(table + " " + line + "\n")
		}
		rows.Close()
	}
	return out.Bytes()
}

var _ storetest.Store = (*DB)(nil)

// TestSameMethods: the PostgreSQL store has every exported method of the
// SQLite store, with the same signature (and Pool besides), but
// TaskVersion: PostgreSQL keeps no task versions, and a store without the
// method (bulwark.TaskVersioner) is one whose task answers a server does
// not keep, which the test checks too.
func TestSameMethods(t *testing.T) {
	lite, pg := reflect.TypeFor[*sqlite.DB](), reflect.TypeFor[*DB]()
	if _, ok := any((*DB)(nil)).(bulwark.TaskVersioner); ok {
		t.Errorf("postgres.DB offers task versions, which it does not keep")
	}
	for i := range lite.NumMethod() {
		m := lite.Method(i)
		if m.Name == "TaskVersion" {
			continue
		}
		got, ok := pg.MethodByName(m.Name)
		if !ok {
			t.Errorf("postgres.DB lacks %s%s", m.Name, strings.TrimPrefix(m.Type.String(), "func(*sqlite.DB"))
			continue
		}
		// Compare without the receiver.
		if a, b := signature(m.Type), signature(got.Type); a != b {
			t.Errorf("%s: postgres %s, sqlite %s", m.Name, b, a)
		}
	}
	for i := range pg.NumMethod() {
		if m := pg.Method(i); m.Name != "Pool" {
			if _, ok := lite.MethodByName(m.Name); !ok {
				t.Errorf("sqlite.DB lacks %s, which postgres.DB has", m.Name)
			}
		}
	}
}

func signature(f reflect.Type) string {
	var in, out []string
	for i := 1; i < f.NumIn(); i++ {
		in = append(in, f.In(i).String())
	}
	for i := range f.NumOut() {
		out = append(out, f.Out(i).String())
	}
	return "(" + strings.Join(in, ", ") + ") (" + strings.Join(out, ", ") + ")"
}

// Exec runs query with its ? placeholders numbered as PostgreSQL wants.
func (h *harness) Exec(t *testing.T, query string, args ...any) {
	t.Helper()
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	if _, err := h.DB.db.Exec(b.String(), args...); err != nil {
		t.Fatalf("%s: %v", b.String(), err)
	}
}
