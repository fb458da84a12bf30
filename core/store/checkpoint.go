package store

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

// checkpointer copies the WAL back into the database file from a connection
// of its own, so that a commit seldom waits for it. With SQLite's automatic
// checkpoints the commit that crosses the threshold runs the checkpoint
// itself, fsyncs included: at a million leads, a quarter of the writer's time
// went there. The writer's automatic checkpoints are off; this runs a PASSIVE
// checkpoint (which never blocks the writer or readers) shortly after
// commits, at most every interval; the writer finishes the job itself,
// between two batches, only when the WAL has grown past walLimit, by which
// time most of it has been copied already.
type checkpointer struct {
	db       *sql.DB
	kick     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	interval time.Duration
	// frames is the WAL's length in frames at the last checkpoint.
	frames atomic.Int64
}

// walLimit is the WAL length (in 4 KiB frames: 256 MiB) past which the writer
// checkpoints itself, between two batches. A checkpoint beside a busy writer
// copies frames but can never finish, since frames keep coming; only a
// finished one lets the next write start the WAL over. Without this the WAL
// grew past 13 GB during a bulk load of a million leads. Each time the writer
// does it, the writes queued behind it wait: at 64 MiB that was several
// times a second under ingest, and the ingest p99 with it (see
// docs/performance.md, "Checkpoints beside the writer").
const walLimit = 65536

// overdue reports whether the writer should checkpoint now (no transaction
// open on it), and forgets the length it saw so as not to ask twice.
func (c *checkpointer) overdue() bool {
	if c.frames.Load() < walLimit {
		return false
	}
	c.frames.Store(0)
	return true
}

func newCheckpointer(dsn string, interval time.Duration) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}), interval: interval}
	go c.loop()
	return c, nil
}

// committed tells the checkpointer that the WAL grew.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.kick:
		case <-c.quit:
			return
		}
		// Errors (SQLITE_BUSY while another checkpoint runs) only mean
		// the next round does the work.
		var busy, frames, done int64
		if err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err == nil {
			c.frames.Store(frames)
		}
		select {
		case <-time.After(c.interval):
		case <-c.quit:
			return
		}
	}
}

// close stops the loop; the last connection to close checkpoints the rest.
func (c *checkpointer) close() {
	close(c.quit)
	<-c.done
	c.db.Close()
}
