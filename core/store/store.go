// Package store keeps Leadhub's data with Bun: an embedded SQLite file by
// default, PostgreSQL for scale-out. It is the only package that imports Bun.
// Every query is scoped by project here, not only in handlers.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // the SQLite driver: no cgo, FTS5 built in

	"github.com/leadhub/leadhub/core"
)

// Options configure a Store.
type Options struct {
	// URL is "sqlite:" + a file path, or a postgres:// URL.
	URL string
	// Synchronous is SQLite's sync level: "full" (the default: a commit
	// survives power loss, at one fsync per group-commit batch) or "normal"
	// (a commit survives a killed process; the OS crashing or a power loss
	// may lose the writes since the last checkpoint, typically 50–100 ms).
	Synchronous string
	// MaxBatch bounds how many writes share one transaction (SQLite).
	MaxBatch int
	// MaxWait bounds how long a transaction waits for more writes to join
	// it, under concurrent load only (SQLite). Negative: never wait.
	MaxWait time.Duration
	// ReadConns is the size of the read pool.
	ReadConns int
	// MaxConns bounds the PostgreSQL pool of one process. Replicas multiply
	// it: N replicas need N×MaxConns of the server's max_connections.
	MaxConns int
	// Exclusive opens a SQLite database for this process alone (an import):
	// Open fails with ErrDatabaseBusy while another Leadhub process has it
	// open, and others fail while this one does.
	Exclusive bool
	Clock     func() time.Time
	NewID     func() string
	Hook      core.EventHook
	Metrics   core.StoreMetrics
	Logger    *slog.Logger
}

// Dialect names the database behind a store.
type Dialect string

// The dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store implements the core services.
type Store struct {
	dialect Dialect
	wdb     *bun.DB // the one writer (SQLite) or the shared pool (PostgreSQL)
	rdb     *bun.DB // readers; never wait behind the writer
	writer  writer
	hot     *hot // prepared statements (SQLite)
	// lockLeadSQL finds and locks the lead of a user id (PostgreSQL).
	lockLeadSQL string
	// checkpoints copies the WAL into the database file (SQLite).
	checkpoints *checkpointer
	// lock keeps other processes out of the SQLite file, or this one out
	// of an import's (lockDatabase).
	lock *fileLock
	// keys caches authenticated API keys (SQLite; nil on PostgreSQL).
	keys *keyCache
	// subs caches which webhooks each event type goes to (SQLite; nil on
	// PostgreSQL).
	subs    *subsCache
	clock   func() time.Time
	newID   func() string
	hook    core.EventHook
	metrics core.StoreMetrics
	log     *slog.Logger
}

// Open connects, applies migrations and starts the write path.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	if opts.Metrics == nil {
		opts.Metrics = core.NopStoreMetrics{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = defaultMaxWait
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	s := &Store{hot: &hot{}, clock: func() time.Time { return opts.Clock().UTC() }, newID: opts.NewID, hook: opts.Hook, metrics: opts.Metrics, log: opts.Logger}
	var err error
	switch {
	case strings.HasPrefix(opts.URL, "sqlite:"):
		err = s.openSQLite(strings.TrimPrefix(opts.URL, "sqlite:"), opts)
	case strings.HasPrefix(opts.URL, "postgres://"), strings.HasPrefix(opts.URL, "postgresql://"):
		err = s.openPostgres(opts.URL, opts)
	default:
		return nil, fmt.Errorf("database url %q: want sqlite:PATH or postgres://", opts.URL)
	}
	if err != nil {
		s.lock.release()
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.dialect == SQLite {
		if err := s.prepareHot(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// writerCacheKiB is the writer's page cache (see openSQLite).
const writerCacheKiB = 32768

func (s *Store) openSQLite(path string, opts Options) error {
	if path == "" {
		return errors.New("sqlite: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create database folder: %w", err)
		}
	}
	lock, err := lockDatabase(path, opts.Exclusive)
	if err != nil {
		return err
	}
	s.lock = lock
	sync := "FULL"
	if strings.EqualFold(opts.Synchronous, "normal") {
		sync = "NORMAL"
	}
	// Page caches: 32 MiB for the writer, whose random index inserts want
	// the upper levels of every index at hand; 4 MiB for each reader, whose
	// point lookups and searches touch few pages, the rest coming from the
	// OS's file cache. Caches are per connection and count in the server's
	// resident memory, up to twice over: the driver's allocator rounds a
	// page with its header (a little over 4 KiB) up to an 8 KiB slot.
	// Measured: a 64 MiB writer cache and 8 MiB readers took the server
	// past 250 MB.
	// busy_timeout first: switching to WAL takes a lock that another process
	// opening the same file (leadhub migrate beside serve) may hold.
	base := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	// The writer commits at NORMAL whatever the level: at full, its commits
	// are fsynced by the WAL syncer beside it, before they are answered
	// (walsync.go). The checkpointer's connection keeps the level.
	syncLevel := "&_pragma=synchronous(" + sync + ")"
	// The writer never checkpoints: the checkpointer does, beside it. Its
	// temporary files live in memory: the savepoint journal of the group
	// commit copies every page an operation changes (4 KiB each), and as a
	// file, which SQLite does once a journal passes 64 KiB, each copy was
	// two write system calls: a fifth of the writer's time under ingest.
	// An operation that changes many pages (a bulk load) runs alone, with
	// no savepoint and so no such journal (writeAlone).
	w, err := sql.Open("sqlite", base+"&_pragma=synchronous(NORMAL)&_pragma=cache_size(-"+strconv.Itoa(writerCacheKiB)+")&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(67108864)&_txlock=immediate")
	if err != nil {
		return err
	}
	// One writer connection: SQLite takes one writer at a time anyway, and the
	// group-commit loop is what makes that one connection fast.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", base+syncLevel+"&_pragma=cache_size(-4096)&_pragma=temp_store(MEMORY)&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return err
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	r.SetConnMaxLifetime(0)
	s.dialect = SQLite
	s.keys = newKeyCache()
	s.subs = newSubsCache()
	s.wdb = bun.NewDB(w, sqlitedialect.New())
	s.rdb = bun.NewDB(r, sqlitedialect.New())
	if err := s.wdb.Ping(); err != nil {
		s.wdb.Close()
		s.rdb.Close()
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	cp, err := newCheckpointer(base+syncLevel+"&_pragma=cache_size(-2048)", 50*time.Millisecond)
	if err != nil {
		s.wdb.Close()
		s.rdb.Close()
		return err
	}
	s.checkpoints = cp
	syncWAL := ""
	if sync == "FULL" {
		syncWAL = path
	}
	s.writer = newBatcher(s, opts.MaxBatch, opts.MaxWait, syncWAL)
	return nil
}

func (s *Store) openPostgres(url string, opts Options) error {
	db, err := openPostgresDB(url)
	if err != nil {
		return err
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	db.SetMaxOpenConns(opts.MaxConns)
	// Keep every connection between bursts of load: one closed after a
	// burst was a new session (a backend started, statements prepared again)
	// at the next. A minute without use still closes it.
	db.SetMaxIdleConns(opts.MaxConns)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.Ping(); err != nil {
		db.Close()
		return fmt.Errorf("open postgres: %w", err)
	}
	s.dialect = Postgres
	s.wdb = bun.NewDB(db, pgdialect.New())
	s.rdb = s.wdb
	s.lockLeadSQL = "SELECT " + newModel(s.wdb.Table(reflect.TypeFor[leadRow]())).cols +
		" FROM leads AS l WHERE l.id = (SELECT lead_id FROM lead_user_ids WHERE project_id = ? AND user_id = ?)" +
		" AND l.project_id = ? FOR UPDATE"
	s.writer = &directWriter{s: s}
	return nil
}

// Dialect reports the database kind.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB is the writer's database handle, for adapters that keep their own tables
// through database/sql (the job queue).
func (s *Store) DB() *sql.DB { return s.wdb.DB }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.PingContext(ctx) }

// Close stops the write path and closes the database.
func (s *Store) Close() error {
	if s.writer != nil {
		s.writer.close()
	}
	if s.hot.w != nil {
		s.hot.w.close()
		s.hot.r.close()
	}
	if s.checkpoints != nil {
		s.checkpoints.close()
	}
	var err error
	if s.rdb != s.wdb && s.rdb != nil {
		err = s.rdb.Close()
	}
	if s.wdb != nil {
		err = errors.Join(err, s.wdb.Close())
	}
	s.lock.release()
	return err
}

// now is the store's clock, truncated to what the database keeps.
func (s *Store) now() time.Time { return s.clock().Truncate(time.Microsecond) }

// ReadDB is the read pool's handle, for adapters whose reads should not wait
// behind the writer.
func (s *Store) ReadDB() *sql.DB { return s.rdb.DB }
