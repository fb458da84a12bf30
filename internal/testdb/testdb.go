// Package testdb hands tests a fresh, empty database: a SQLite file in the
// test's temporary folder always, and a PostgreSQL schema of its own when
// LEADHUB_TEST_DATABASE_URL names a PostgreSQL database.
//
// A package whose tests should run on every database calls Run from its
// TestMain: the package's tests then run once per dialect (SQLite first,
// PostgreSQL second when its URL is set), and URL returns a database of the
// dialect of the pass in progress. Tests keep their plain signatures; a
// failure on PostgreSQL is told apart by the "database:" line URL logs.
//
//	func TestMain(m *testing.M) { os.Exit(testdb.Run(m)) }
//
// LEADHUB_TEST_DIALECT=sqlite (or postgres) restricts Run to one pass, for
// chasing a failure.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver, as the store uses it
)

// The environment variables this package reads.
const (
	// EnvURL names a PostgreSQL database (postgres://…) that tests may
	// create schemas in. Unset: PostgreSQL tests are skipped.
	EnvURL = "LEADHUB_TEST_DATABASE_URL"
	// EnvDialect, when set, restricts Run to that dialect's pass.
	EnvDialect = "LEADHUB_TEST_DIALECT"
)

// Dialect names a database kind; the values are the store's names for them.
type Dialect string

// The dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

var (
	mu      sync.Mutex
	current = SQLite
	pass    int // 0 outside Run; 1, 2 inside
)

// Dialects are the dialects this run can test: SQLite always, PostgreSQL when
// EnvURL is set.
func Dialects() []Dialect {
	ds := []Dialect{SQLite}
	if os.Getenv(EnvURL) != "" {
		ds = append(ds, Postgres)
	}
	if only := Dialect(os.Getenv(EnvDialect)); only != "" {
		var out []Dialect
		for _, d := range ds {
			if d == only {
				out = append(out, d)
			}
		}
		return out
	}
	return ds
}

// Run runs the package's tests once per dialect of Dialects and returns the
// exit code for os.Exit: non-zero when any pass failed. Listing tests and
// fuzzing run one pass only (the first dialect).
func Run(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	ds := Dialects()
	if flagSet("test.list") || flagSet("test.fuzz") {
		ds = ds[:min(1, len(ds))]
	}
	code := 0
	for i, d := range ds {
		mu.Lock()
		current, pass = d, i+1
		mu.Unlock()
		if len(ds) > 1 {
			fmt.Printf("=== testdb: %s\n", d)
		}
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	return code
}

func flagSet(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() != ""
}

// Current is the dialect of the pass in progress: SQLite outside Run.
func Current() Dialect {
	mu.Lock()
	defer mu.Unlock()
	return current
}

// FirstPass skips t in every pass of Run but the first: for tests that pick
// their databases themselves and so would only repeat themselves.
func FirstPass(t testing.TB) {
	t.Helper()
	mu.Lock()
	p := pass
	mu.Unlock()
	if p > 1 {
		t.Skipf("runs in the first pass only (this pass: %s)", Current())
	}
}

// Require skips t unless the pass in progress is d's: for tests about one
// dialect (several replicas sharing PostgreSQL).
func Require(t testing.TB, d Dialect) {
	t.Helper()
	if Current() != d {
		if d == Postgres && os.Getenv(EnvURL) == "" {
			t.Skip(EnvURL + " not set")
		}
		t.Skipf("runs in the %s pass (this pass: %s)", d, Current())
	}
}

// URL is a fresh, empty database of the current dialect, as a Leadhub
// database URL (sqlite:PATH or postgres://…), removed when t ends.
func URL(t testing.TB) string {
	t.Helper()
	return URLFor(t, Current())
}

// URLFor is a fresh, empty database of dialect d. PostgreSQL skips t when
// EnvURL is unset.
func URLFor(t testing.TB, d Dialect) string {
	t.Helper()
	switch d {
	case SQLite:
		return SQLiteURL(t)
	case Postgres:
		return PostgresURL(t)
	}
	t.Fatalf("testdb: unknown dialect %q", d)
	return ""
}

// SQLiteURL is a new SQLite file in t's temporary folder.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "leadhub.db")
}

// PostgresURL is the database named by EnvURL with a new, empty schema of
// t's own first on its search_path (pgx sends the URL parameter as a run-time
// setting, so every connection of every pool opened with the URL, in this
// process or a child, works in that schema). The schema is dropped when t
// ends, after any cleanups registered later (closing the store that uses it).
// Skips t when EnvURL is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Skip(EnvURL + " not set")
	}
	db, err := admin(base)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	schema := schemaName(t.Name())
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("testdb: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: %s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	t.Logf("database: postgres, schema %s", schema)
	return u.String()
}

var (
	adminMu sync.Mutex
	admins  = map[string]*sql.DB{}
)

// admin is one small pool per base URL for creating and dropping schemas,
// kept for the life of the test binary.
func admin(base string) (*sql.DB, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if db := admins[base]; db != nil {
		return db, nil
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	admins[base] = db
	return db, nil
}

// schemaName is "t_" + the test's name folded to lower-case letters, digits
// and underscores, cut to leave room for a random suffix within PostgreSQL's
// 63-byte identifiers: readable in pg_namespace, unique across processes.
func schemaName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String()
}

// SQLiteSchema lists the indexes and triggers of a SQLite database, each as
// "type name: CREATE statement", in order: what a test compares before and
// after an operation that drops and builds them again.
func SQLiteSchema(t testing.TB, db *sql.DB) []string {
	t.Helper()
	return Strings(t, db, "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master WHERE type IN ('index', 'trigger') ORDER BY 1")
}

// Strings runs a query of one text column and returns its values.
func Strings(t testing.TB, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
