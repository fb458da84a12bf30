package core

import (
	"context"
	"database/sql"
	"time"
)

// Job is durable work that follows an event: one plugin call or one webhook
// delivery. It names the event by id; the worker loads it, so job rows stay
// small and secrets never sit in them.
type Job struct {
	ID        int64
	Kind      string
	ProjectID string
	Target    string // a plugin name or a webhook id
	EventID   string
	Attempt   int
}

// JobResult is a worker's verdict on one job.
type JobResult struct {
	Err     error
	RetryAt time.Time // optional: when to try again (e.g. Retry-After)
	Discard bool      // a permanent failure: no more attempts
}

// Fanout decides which jobs follow an event. It runs inside the transaction
// that writes the event (so it may read that transaction's state) and must be
// quick: it is on the ingest path.
type Fanout interface {
	JobsFor(ctx context.Context, tx *sql.Tx, ev Event) ([]Job, error)
}

// EventsFanout is an optional extension of Fanout for the events of one
// write at once, in their order: a bulk load writes a thousand events of one
// type, and a fan-out whose answer depends on the project and the type alone
// decides once for all of them.
type EventsFanout interface {
	JobsForEvents(ctx context.Context, tx *sql.Tx, evs []Event) ([]Job, error)
}

// CommitNotifier is an optional extension of EventHook: told after a commit
// that carried events, so that workers wake at once instead of polling.
type CommitNotifier interface {
	EventsCommitted()
}
