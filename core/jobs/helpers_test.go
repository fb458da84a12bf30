package jobs_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/leadhub/leadhub/core/jobs"
)

// testDB is one freshly migrated database: a SQLite temp file or a private
// schema in the PostgreSQL database named by LEADHUB_TEST_DATABASE_URL.
type testDB struct {
	d      jobs.Dialect
	dsn    string  // opens the same database again (another pool, a child process)
	db     *sql.DB // the writer pool: one connection on SQLite, as in the store
	readDB *sql.DB
}

const pgEnv = "LEADHUB_TEST_DATABASE_URL"

// forEachDialect runs fn on SQLite, and on PostgreSQL when its URL is set.
func forEachDialect(t *testing.T, fn func(t *testing.T, tdb *testDB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, newSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, newPostgres(t)) })
}

func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
}

func newSQLite(t testing.TB) *testDB {
	t.Helper()
	tdb := &testDB{d: jobs.SQLite, dsn: sqliteDSN(filepath.Join(t.TempDir(), "leadhub.db"))}
	tdb.db = openDB(t, tdb.d, tdb.dsn)
	migrate(t, tdb.db, tdb.d)
	// A separate read pool, as the store has: inspection must not need the
	// writer connection.
	tdb.readDB = openPool(t, "sqlite", tdb.dsn+"&_pragma=query_only(1)")
	tdb.readDB.SetMaxOpenConns(4)
	return tdb
}

func newPostgres(t testing.TB) *testDB {
	t.Helper()
	base := os.Getenv(pgEnv)
	if base == "" {
		t.Skip(pgEnv + " not set")
	}
	admin := openPool(t, "pgx", base)
	schema := fmt.Sprintf("jobs_test_%d", rand.Int64())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	qs := u.Query()
	qs.Set("search_path", schema) // pgx sends unknown parameters as run-time settings
	u.RawQuery = qs.Encode()
	tdb := &testDB{d: jobs.Postgres, dsn: u.String()}
	tdb.db = openDB(t, tdb.d, tdb.dsn)
	tdb.readDB = tdb.db
	migrate(t, tdb.db, tdb.d)
	return tdb
}

// openDB opens a pool configured the way the store configures its writer.
func openDB(t testing.TB, d jobs.Dialect, dsn string) *sql.DB {
	t.Helper()
	if d == jobs.SQLite {
		db := openPool(t, "sqlite", dsn)
		db.SetMaxOpenConns(1)
		return db
	}
	db := openPool(t, "pgx", dsn)
	db.SetMaxOpenConns(8)
	return db
}

func openPool(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// migrate applies the real migration file, read from the repository.
func migrate(t testing.TB, db *sql.DB, d jobs.Dialect) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "migrations", d.String(), "0002_jobs.up.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(src)); err != nil {
		t.Fatalf("apply 0002_jobs: %v", err)
	}
}

// enqueue commits jobs in one transaction.
func enqueue(t testing.TB, tdb *testDB, js ...jobs.NewJob) {
	t.Helper()
	tx, err := tdb.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.Enqueue(context.Background(), tx, tdb.d, js); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func newJobs(kind string, n int) []jobs.NewJob {
	js := make([]jobs.NewJob, n)
	for i := range js {
		js[i] = jobs.NewJob{Kind: kind, ProjectID: "p1", EventID: fmt.Sprintf("ev%d", i), Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	return js
}

func count(t testing.TB, tdb *testDB, where string) int {
	t.Helper()
	var n int
	if err := tdb.db.QueryRow("SELECT count(*) FROM jobs WHERE " + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// newQueue returns a started queue with fast polling; it is stopped when
// the test ends.
func newQueue(t testing.TB, tdb *testDB, opts jobs.Options, kinds map[string]jobs.KindConfig) *jobs.Queue {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	if opts.ReadDB == nil {
		opts.ReadDB = tdb.readDB
	}
	q := jobs.New(tdb.db, tdb.d, opts)
	for k, c := range kinds {
		q.Register(k, c)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return q
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder is a handler that remembers every job it was given.
type recorder struct {
	mu      sync.Mutex
	batches [][]jobs.Job
	runs    map[int64][]int // id -> attempts seen
	times   map[int64][]time.Time
	outcome func(j jobs.Job) jobs.Outcome
}

func newRecorder(outcome func(j jobs.Job) jobs.Outcome) *recorder {
	return &recorder{runs: map[int64][]int{}, times: map[int64][]time.Time{}, outcome: outcome}
}

func (r *recorder) handle(ctx context.Context, batch []jobs.Job) []jobs.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, batch)
	outs := make([]jobs.Outcome, len(batch))
	for i, j := range batch {
		r.runs[j.ID] = append(r.runs[j.ID], j.Attempt)
		r.times[j.ID] = append(r.times[j.ID], time.Now())
		if r.outcome != nil {
			outs[i] = r.outcome(j)
		}
	}
	return outs
}

func (r *recorder) worked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.batches {
		n += len(b)
	}
	return n
}

func (r *recorder) attempts(id int64) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.runs[id]...)
}

// observer counts what the queue reports.
type observer struct {
	mu      sync.Mutex
	results map[jobs.Result]int
	batches int
	stats   map[string]jobs.KindStats
}

func newObserver() *observer {
	return &observer{results: map[jobs.Result]int{}, stats: map[string]jobs.KindStats{}}
}

func (o *observer) JobsWorked(kind string, res jobs.Result, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.results[res] += n
}

func (o *observer) BatchWorked(kind string, size int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches++
}

func (o *observer) QueueStats(kind string, s jobs.KindStats) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats[kind] = s
}

func (o *observer) result(r jobs.Result) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.results[r]
}
