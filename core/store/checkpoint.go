package store

import (
	"context"
	"database/sql"
	"time"
)

// checkpointer copies the WAL back into the database file from a connection
// of its own, so that a commit never waits for it. With SQLite's automatic
// checkpoints the commit that crosses the threshold runs the checkpoint
// itself, fsyncs included: at a million leads, a quarter of the writer's time
// went there. The writer's automatic checkpoints are off; this runs a PASSIVE
// checkpoint (which never blocks the writer or readers) shortly after
// commits, at most every interval.
type checkpointer struct {
	db       *sql.DB
	kick     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	interval time.Duration
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
		_, _ = c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
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
