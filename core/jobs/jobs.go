// Package jobs is Leadhub's durable job queue: work that follows a lead
// event (a plugin call, a webhook delivery) is inserted in the same
// transaction as the event and run later by workers, with retries and
// backoff, in batches.
//
// The queue lives in the application database (table jobs, migration
// 0002_jobs) so that a job exists if and only if the change that caused it
// was committed. On SQLite every statement goes through the store's single
// writer connection, so claims and completions are one statement per batch
// and no transaction is ever held across a handler call. On PostgreSQL
// several replicas share the table; a claim takes rows with
// FOR UPDATE SKIP LOCKED and leases them. A job whose lease expires (its
// worker died) is claimed again: delivery is at least once.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Job is one unit of work handed to a handler.
type Job struct {
	ID        int64
	Kind      string
	ProjectID string
	Target    string // plugin name, webhook endpoint id, ...; batches may be grouped by it
	EventID   string
	Payload   json.RawMessage
	Attempt   int // 1 on the first run
	CreatedAt time.Time
	RunAt     time.Time // when this attempt was scheduled to run
}

// NewJob is a job to enqueue.
type NewJob struct {
	Kind      string
	ProjectID string
	Target    string
	EventID   string
	Payload   json.RawMessage
	RunAt     time.Time // zero means now
}

// Outcome is a handler's verdict on one job of a batch.
type Outcome struct {
	// Err nil means the job is done and will not run again.
	Err error
	// RetryAt, when set with Err, replaces the backoff schedule for this
	// retry (e.g. a Retry-After header).
	RetryAt time.Time
	// Discard, with Err, is a permanent failure: the job is discarded
	// without further attempts.
	Discard bool
}

// HandlerFunc works a batch of jobs of one kind and returns one outcome per
// job, in the same order. A missing outcome counts as a failure.
type HandlerFunc func(ctx context.Context, batch []Job) []Outcome

// KindConfig tells the queue how to work one kind of job.
type KindConfig struct {
	Handler HandlerFunc
	// MaxBatch is the most jobs handed to one handler call (default 1, at
	// most 1000).
	MaxBatch int
	// Linger is how long a worker waits, after being told new jobs exist,
	// for more to gather before it claims a batch smaller than MaxBatch.
	// Zero claims at once.
	Linger time.Duration
	// Workers is the number of batches of this kind in flight at once in
	// this process (default 1).
	Workers int
	// Timeout bounds one handler call (default 30s). The lease on a claimed
	// batch always outlasts it.
	Timeout time.Duration
	// Retry gives the delay before attempt+1 after attempt failed; ±20%
	// jitter is added. Default: 1s doubling up to 1h.
	Retry func(attempt int) time.Duration
	// MaxAttempts is how many times a job runs before it is discarded
	// (default 25).
	MaxAttempts int
	// GroupByTarget makes every batch hold jobs of one target only.
	GroupByTarget bool
}

// State is where a job is in its life.
type State string

// Job states. A job moves available → running → completed, or from running
// to retryable (and back to running when due) or discarded.
const (
	StateAvailable State = "available"
	StateRunning   State = "running"
	StateRetryable State = "retryable"
	StateCompleted State = "completed"
	StateDiscarded State = "discarded"
)

// Record is a job as stored, for inspection and replay.
type Record struct {
	Job
	State State
	// LeaseUntil is when a running job's lease expires.
	LeaseUntil time.Time
	FinishedAt time.Time
	LastError  string
}

// Filter selects jobs for List. Empty fields match everything.
type Filter struct {
	Kind      string
	State     State
	ProjectID string
	Target    string
	EventID   string
	AfterID   int64 // cursor: only ids greater than this
	Limit     int   // default 100, at most 1000
}

// KindStats describes the backlog of one kind.
type KindStats struct {
	Pending   int64         // due and waiting for a worker
	Scheduled int64         // waiting for a future time (retries, delayed jobs)
	Running   int64         // claimed by a worker (including expired leases)
	Discarded int64         // failed for good and still kept for replay
	OldestAge time.Duration // how long the oldest pending job has been due
}

// Result is what became of a worked job, as reported to an Observer.
type Result string

// Results reported to an Observer.
const (
	ResultCompleted Result = "completed"
	ResultRetried   Result = "retried"
	ResultDiscarded Result = "discarded"
	// ResultLost: the outcome could not be recorded because the lease had
	// expired and another worker took the job over (or the write failed);
	// the job will run again.
	ResultLost Result = "lost"
)

// Observer receives the queue's figures; the metrics package implements it.
// Kinds are the registered ones, so label values stay bounded. Methods are
// called from worker goroutines and must not block.
type Observer interface {
	// JobsWorked counts n jobs of a batch that ended with result.
	JobsWorked(kind string, result Result, n int)
	// BatchWorked reports one handler call: its size and duration.
	BatchWorked(kind string, size int, d time.Duration)
	// QueueStats reports the backlog of a kind, every StatsInterval.
	QueueStats(kind string, s KindStats)
}

// Errors returned by the inspection and replay methods.
var (
	ErrNotFound     = errors.New("jobs: job not found")
	ErrNotRetryable = errors.New("jobs: job is running or completed")
)
