package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Queue. Zero values take the defaults given.
type Options struct {
	// ReadDB, if set, serves Stats, Get, List and the pollers' look-ahead.
	// On SQLite pass the store's read pool, so that inspection never queues
	// behind writes on the single writer connection.
	ReadDB *sql.DB
	// Clock gives the time written to and compared with the table
	// (default time.Now). A test clock must move forward.
	Clock func() time.Time
	// Logger gets one line per failed claim, completion or cleaning
	// (default slog.Default()).
	Logger *slog.Logger
	// Observer receives metrics; nil discards them.
	Observer Observer
	// PollInterval is the longest a worker sleeps when nothing wakes it
	// (default 1s). Notify wakes workers of this process at once; jobs
	// enqueued by another replica are found by polling.
	PollInterval time.Duration
	// LeaseDuration is how long a claimed batch belongs to its worker
	// before another may take it (default 1m): how long the jobs of a
	// worker that died wait. A kind's lease is at least its Timeout plus
	// min(Timeout, 30s), so a live worker never loses its lease.
	LeaseDuration time.Duration
	// CompletedRetention keeps completed jobs this long for inspection;
	// zero (the default) deletes a job as soon as it completes, which
	// keeps the table as small as the backlog.
	CompletedRetention time.Duration
	// DiscardedRetention keeps discarded jobs for RetryNow (default 7 days).
	DiscardedRetention time.Duration
	// CleanInterval is how often finished jobs past retention are deleted
	// (default 1m).
	CleanInterval time.Duration
	// StatsInterval is how often Stats is reported to the Observer
	// (default 15s; negative disables).
	StatsInterval time.Duration
}

const (
	defaultPollInterval       = time.Second
	defaultLeaseDuration      = time.Minute
	defaultDiscardedRetention = 7 * 24 * time.Hour
	defaultCleanInterval      = time.Minute
	defaultStatsInterval      = 15 * time.Second
	defaultTimeout            = 30 * time.Second
	defaultMaxAttempts        = 25
	leaseMargin               = 30 * time.Second
	// dbTimeout bounds the queue's own statements (claims, completions);
	// they must not hang a worker forever on a stuck connection.
	dbTimeout = 30 * time.Second
	// stopGrace is how long Stop waits, after its context expired and the
	// handlers were cancelled, for their outcomes to be written.
	stopGrace = time.Second
)

// Queue works the jobs of the registered kinds.
type Queue struct {
	db   *sql.DB
	rdb  *sql.DB
	d    Dialect
	opts Options
	obs  Observer
	log  *slog.Logger

	mu      sync.Mutex
	kinds   map[string]*runner
	started bool
	stopped bool

	runners    atomic.Pointer[[]*runner] // set once by Start; read by Notify
	stopping   chan struct{}             // closed by Stop: no new claims
	handlerCtx context.Context           // parent of every handler call
	cancel     context.CancelFunc        // cancels handlerCtx (Stop ran out of time)
	loops      sync.WaitGroup            // pollers, cleaner, stats
	batches    sync.WaitGroup            // batches being worked
}

// New returns a Queue on db, the pool writes go through (on SQLite the
// store's single writer connection).
func New(db *sql.DB, d Dialect, opts Options) *Queue {
	if opts.ReadDB == nil {
		opts.ReadDB = db
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	if opts.LeaseDuration <= 0 {
		opts.LeaseDuration = defaultLeaseDuration
	}
	if opts.DiscardedRetention <= 0 {
		opts.DiscardedRetention = defaultDiscardedRetention
	}
	if opts.CleanInterval <= 0 {
		opts.CleanInterval = defaultCleanInterval
	}
	if opts.StatsInterval == 0 {
		opts.StatsInterval = defaultStatsInterval
	}
	obs := opts.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Queue{
		db:         db,
		rdb:        opts.ReadDB,
		d:          d,
		opts:       opts,
		obs:        obs,
		log:        opts.Logger.With("component", "jobs"),
		kinds:      make(map[string]*runner),
		stopping:   make(chan struct{}),
		handlerCtx: ctx,
		cancel:     cancel,
	}
}

// Register sets how jobs of kind are worked. It must be called before Start;
// registering a kind twice or a nil handler is a programming error and
// panics. Jobs of kinds that no process registers wait in the table.
func (q *Queue) Register(kind string, cfg KindConfig) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.started:
		panic("jobs: Register after Start")
	case kind == "":
		panic("jobs: Register with an empty kind")
	case cfg.Handler == nil:
		panic("jobs: Register " + kind + " with a nil handler")
	case q.kinds[kind] != nil:
		panic("jobs: kind " + kind + " registered twice")
	}
	q.kinds[kind] = newRunner(q, kind, cfg)
}

// Start checks that the jobs table exists and starts the workers. ctx bounds
// only that check: the queue runs until Stop, so that a cancelled serve
// context does not abort batches that Stop would let finish.
func (q *Queue) Start(ctx context.Context) error {
	if !q.d.valid() {
		return fmt.Errorf("start job queue: unknown dialect %d", q.d)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return errors.New("start job queue: already started")
	}
	var n int
	if err := q.db.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM jobs LIMIT 1) t").Scan(&n); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	q.started = true
	rs := make([]*runner, 0, len(q.kinds))
	for _, r := range q.kinds {
		rs = append(rs, r)
	}
	q.runners.Store(&rs)
	for _, r := range rs {
		q.loops.Add(1)
		go r.poll()
	}
	q.loops.Add(1)
	go q.cleanLoop()
	if q.opts.StatsInterval > 0 && q.obs != (nopObserver{}) {
		q.loops.Add(1)
		go q.statsLoop()
	}
	return nil
}

// Stop stops claiming and waits for the batches in flight to be worked and
// their outcomes written. If ctx ends first, handlers are cancelled, their
// outcomes get a moment to be written, and ctx's error is returned; jobs
// whose outcome was not written run again after their lease expires.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	if !q.started || q.stopped {
		q.mu.Unlock()
		return nil
	}
	q.stopped = true
	close(q.stopping)
	q.mu.Unlock()

	done := make(chan struct{})
	go func() {
		// Pollers first: once they are gone nobody adds to batches.
		q.loops.Wait()
		q.batches.Wait()
		close(done)
	}()
	select {
	case <-done:
		q.cancel()
		return nil
	case <-ctx.Done():
	}
	q.cancel()
	select {
	case <-done:
	case <-time.After(stopGrace):
	}
	return fmt.Errorf("stop job queue: %w", ctx.Err())
}

// Notify tells the workers that jobs were committed: they claim at once (or
// after their kind's Linger) instead of at the next poll. The store calls it
// after every commit that enqueued jobs; it never blocks.
func (q *Queue) Notify() {
	rs := q.runners.Load()
	if rs == nil {
		return
	}
	for _, r := range *rs {
		r.notify()
	}
}

// NotifyKinds wakes the pollers of the given kinds only: for callers that
// know which kinds they enqueued, so that other kinds do not claim in vain
// (on PostgreSQL each claim is a statement every replica runs).
func (q *Queue) NotifyKinds(kinds ...string) {
	for _, k := range kinds {
		q.notifyKind(k)
	}
}

func (q *Queue) notifyKind(kind string) {
	rs := q.runners.Load()
	if rs == nil {
		return
	}
	for _, r := range *rs {
		if r.kind == kind {
			r.notify()
		}
	}
}

// sleep waits d or until Stop; false means the queue is stopping.
func (q *Queue) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-q.stopping:
		return false
	}
}

// cleanLoop deletes finished jobs past their retention, in small chunks so
// that it never holds SQLite's writer for long.
func (q *Queue) cleanLoop() {
	defer q.loops.Done()
	for q.sleep(q.opts.CleanInterval) {
		if _, err := q.Clean(context.Background()); err != nil {
			q.log.Warn("clean finished jobs", "err", err)
		}
	}
}

const cleanChunk = 1000

// Clean deletes completed and discarded jobs past their retention now and
// returns how many it deleted. The queue also does this every CleanInterval.
func (q *Queue) Clean(ctx context.Context) (int64, error) {
	now := q.opts.Clock()
	stmt := q.d.rebind(`DELETE FROM jobs WHERE id IN (SELECT id FROM jobs
		WHERE finished_at < ? AND state = ? LIMIT ?)`)
	var total int64
	for _, c := range []struct {
		state  State
		before time.Time
	}{
		{StateCompleted, now.Add(-q.opts.CompletedRetention)},
		{StateDiscarded, now.Add(-q.opts.DiscardedRetention)},
	} {
		for {
			res, err := q.db.ExecContext(ctx, stmt, q.d.timeArg(c.before), string(c.state), cleanChunk)
			if err != nil {
				return total, fmt.Errorf("delete %s jobs: %w", c.state, err)
			}
			n, _ := res.RowsAffected()
			total += n
			if n < cleanChunk {
				break
			}
			select {
			case <-q.stopping:
				return total, nil
			default:
			}
		}
	}
	return total, nil
}

func (q *Queue) statsLoop() {
	defer q.loops.Done()
	for q.sleep(q.opts.StatsInterval) {
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		st, err := q.Stats(ctx)
		cancel()
		if err != nil {
			q.log.Warn("job queue stats", "err", err)
			continue
		}
		for kind, s := range st {
			q.obs.QueueStats(kind, s)
		}
	}
}

type nopObserver struct{}

func (nopObserver) JobsWorked(string, Result, int)         {}
func (nopObserver) BatchWorked(string, int, time.Duration) {}
func (nopObserver) QueueStats(string, KindStats)           {}
