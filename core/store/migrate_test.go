package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/internal/testdb"
	"github.com/leadhub/leadhub/migrations"
)

// Objects that exist in one dialect only, on purpose: full-text search is
// built from each database's own means (SQLite: the FTS5 table leads_fts and
// its shadow tables; PostgreSQL: lead_search with a GIN index), and SQLite
// keeps AUTOINCREMENT counters in sqlite_sequence.
var dialectOnly = map[testdb.Dialect][]string{
	testdb.SQLite:   {"leads_fts", "leads_fts_config", "leads_fts_data", "leads_fts_docsize", "leads_fts_idx", "sqlite_sequence"},
	testdb.Postgres: {"lead_search", "lead_search_words"},
}

// Both dialects have the same migrations, by name.
func TestMigrationsInStep(t *testing.T) {
	testdb.FirstPass(t)
	names := func(dir string) []string {
		files, err := fs.Glob(migrations.FS, dir+"/*.up.sql")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range files {
			out = append(out, strings.TrimPrefix(f, dir+"/"))
		}
		return out
	}
	sqlite, pg := names("sqlite"), names("postgres")
	if len(sqlite) == 0 || !slices.Equal(sqlite, pg) {
		t.Fatalf("migrations differ:\nsqlite   %v\npostgres %v", sqlite, pg)
	}
	for i, n := range sqlite {
		if want := fmt.Sprintf("%04d_", i+1); !strings.HasPrefix(n, want) {
			t.Errorf("migration %s: want the prefix %s (numbers run 0001, 0002, … without gaps or repeats)", n, want)
		}
	}
}

// After migrating, both dialects have the same tables with the same columns
// (same names, same NOT NULL) and the same named indexes, but for dialectOnly.
func TestMigratedSchemasInStep(t *testing.T) {
	testdb.FirstPass(t)
	ctx := context.Background()
	schemaOf := func(d testdb.Dialect) map[string]string {
		s, err := store.Open(ctx, store.Options{URL: testdb.URLFor(t, d)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := describeSchema(ctx, s.DB(), d)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range dialectOnly[d] {
			if _, ok := out[name]; !ok {
				t.Errorf("%s: %s is listed as %s-only but does not exist", d, name, d)
			}
			delete(out, name)
		}
		return out
	}
	if os.Getenv(testdb.EnvURL) == "" {
		t.Skip(testdb.EnvURL + " not set")
	}
	lite := schemaOf(testdb.SQLite)
	pg := schemaOf(testdb.Postgres)
	t.Logf("compared %d tables and indexes", len(lite))
	var keys []string
	for k := range lite {
		keys = append(keys, k)
	}
	for k := range pg {
		if _, ok := lite[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if lite[k] != pg[k] {
			t.Errorf("%s:\n  sqlite   %q\n  postgres %q", k, lite[k], pg[k])
		}
	}
}

// describeSchema maps each table to its columns ("name" or "name NOT NULL",
// in order of name) and each explicitly created index to "index".
func describeSchema(ctx context.Context, db *sql.DB, d testdb.Dialect) (map[string]string, error) {
	var tablesQ, columnsQ, indexesQ string
	if d == testdb.SQLite {
		tablesQ = `SELECT name FROM sqlite_master WHERE type = 'table'`
		columnsQ = `SELECT name, "notnull" OR pk FROM pragma_table_info(?)`
		indexesQ = `SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`
	} else {
		tablesQ = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
		columnsQ = `SELECT column_name, is_nullable = 'NO' FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
		// Indexes that back a primary key or unique constraint are
		// implicit, as SQLite's sqlite_autoindex_* are.
		indexesQ = `SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
			WHERE i.relnamespace = current_schema()::regnamespace
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)`
	}
	out := map[string]string{}
	tables, err := queryStrings(ctx, db, tablesQ)
	if err != nil {
		return nil, err
	}
	for _, tb := range tables {
		rows, err := db.QueryContext(ctx, columnsQ, tb)
		if err != nil {
			return nil, err
		}
		var cols []string
		for rows.Next() {
			var name string
			var notNull bool
			if err := rows.Scan(&name, &notNull); err != nil {
				rows.Close()
				return nil, err
			}
			if notNull {
				name += " NOT NULL"
			}
			cols = append(cols, name)
		}
		rows.Close()
		sort.Strings(cols)
		out[tb] = strings.Join(cols, ", ")
	}
	indexes, err := queryStrings(ctx, db, indexesQ)
	if err != nil {
		return nil, err
	}
	for _, ix := range indexes {
		out[ix] = "index"
	}
	return out, nil
}

func queryStrings(ctx context.Context, db *sql.DB, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// countingHandler counts "migration applied" records by version.
type countingHandler struct {
	mu      *sync.Mutex
	applied map[string]int
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h countingHandler) WithGroup(string) slog.Handler            { return h }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "migration applied" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "version" {
			h.mu.Lock()
			h.applied[a.Value.String()]++
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

// Replicas that start together on one empty database all start, and each
// migration is applied once.
func TestConcurrentMigrationsApplyOnce(t *testing.T) {
	ctx := context.Background()
	url := testdb.URL(t)
	h := countingHandler{mu: &sync.Mutex{}, applied: map[string]int{}}
	log := slog.New(h)
	const replicas = 6
	var wg sync.WaitGroup
	stores := make([]*store.Store, replicas)
	errs := make([]error, replicas)
	start := make(chan struct{})
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = store.Open(ctx, store.Options{URL: url, Logger: log})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	files, err := fs.Glob(migrations.FS, string(testdb.Current())+"/*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.applied) != len(files) {
		t.Errorf("applied %v; want each of %d migrations", h.applied, len(files))
	}
	for v, n := range h.applied {
		if n != 1 {
			t.Errorf("migration %s applied %d times", v, n)
		}
	}
	for i, s := range stores {
		if n, err := s.Pending(ctx); err != nil || n != 0 {
			t.Errorf("replica %d: %d pending, %v", i, n, err)
		}
	}
	// Every replica works on the result.
	for _, s := range stores {
		newProject(t, s)
	}
}
