package jobs

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// minWait keeps a poller from spinning when the next due job is already due
// but locked by another replica's claim in progress.
const minWait = 20 * time.Millisecond

// maxBatchLimit caps KindConfig.MaxBatch.
const maxBatchLimit = 1000

// runner claims and works the jobs of one kind.
type runner struct {
	q     *Queue
	kind  string
	cfg   KindConfig
	lease time.Duration
	wake  chan struct{} // Notify; capacity 1 so wake-ups coalesce
	slots chan struct{} // one per batch in flight; capacity Workers

	claimSQL   string
	nextDueSQL string
}

func newRunner(q *Queue, kind string, cfg KindConfig) *runner {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1
	}
	// Completion binds one parameter per job; this keeps it well inside
	// SQLite's limit and a batch's writes short.
	cfg.MaxBatch = min(cfg.MaxBatch, maxBatchLimit)
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Retry == nil {
		cfg.Retry = DefaultRetry
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	// The lease outlasts the handler's timeout with room for writing the
	// outcome, so a live worker never loses its jobs to another.
	lease := max(q.opts.LeaseDuration, cfg.Timeout+min(leaseMargin, cfg.Timeout))
	return &runner{
		q:          q,
		kind:       kind,
		cfg:        cfg,
		lease:      lease,
		wake:       make(chan struct{}, 1),
		slots:      make(chan struct{}, cfg.Workers),
		claimSQL:   claimStatement(q.d, cfg.GroupByTarget),
		nextDueSQL: q.d.rebind("SELECT min(due_at) FROM jobs WHERE kind = ? AND due_at IS NOT NULL"),
	}
}

// DefaultRetry waits 1s after the first failure and doubles up to an hour.
func DefaultRetry(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 13 { // 2^12 s > 1h
		return time.Hour
	}
	return min(time.Second<<(attempt-1), time.Hour)
}

const returning = "id, project_id, target, event_id, payload, attempt, created_at, run_at"

// claimStatement marks up to a batch of due jobs running in one statement:
// one write per batch, however large, which is what SQLite's single writer
// needs. Arguments, in order: kind, now, limit, lease expiry, lease token.
func claimStatement(d Dialect, byTarget bool) string {
	if d == Postgres {
		// SKIP LOCKED: replicas claiming at once take disjoint rows instead
		// of waiting for each other. With byTarget the head row is locked
		// too, so two replicas start from different targets.
		pick := `SELECT id FROM jobs WHERE kind = $1 AND due_at <= $2
			ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED`
		if byTarget {
			pick = `SELECT id FROM jobs WHERE kind = $1 AND due_at <= $2
				AND target = (SELECT target FROM jobs WHERE kind = $1 AND due_at <= $2
					ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED)
				ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED`
		}
		return `WITH picked AS (` + pick + `)
			UPDATE jobs j SET state = 'running', attempt = j.attempt + 1, due_at = $4, lease_token = $5
			FROM picked WHERE j.id = picked.id
			RETURNING j.` + strings.ReplaceAll(returning, ", ", ", j.")
	}
	// SQLite: the statement runs alone on the writer connection, so the
	// sub-select and the update see the same rows; numbered parameters let
	// the grouped form reuse kind and now.
	pick := `SELECT id FROM jobs WHERE kind = ?1 AND due_at <= ?2 ORDER BY due_at LIMIT ?3`
	if byTarget {
		pick = `SELECT id FROM jobs WHERE kind = ?1 AND due_at <= ?2
			AND target = (SELECT target FROM jobs WHERE kind = ?1 AND due_at <= ?2 ORDER BY due_at LIMIT 1)
			ORDER BY due_at LIMIT ?3`
	}
	return `UPDATE jobs SET state = 'running', attempt = attempt + 1, due_at = ?4, lease_token = ?5
		WHERE id IN (` + pick + `) RETURNING ` + returning
}

func (r *runner) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// poll is the kind's single claiming loop. It claims only when a worker
// slot is free, so claimed jobs never wait in memory while their lease runs.
func (r *runner) poll() {
	defer r.q.loops.Done()
	q := r.q
	hot := false // more due jobs are likely: claim again without waiting
	wait := time.Duration(0)
	for {
		if !hot {
			t := time.NewTimer(wait)
			notified := false
			select {
			case <-q.stopping:
				t.Stop()
				return
			case <-r.wake:
				notified = true
			case <-t.C:
			}
			t.Stop()
			// Woken by a commit: let more jobs gather, so a burst is worked
			// as one batch rather than as many small ones. A timer wake-up
			// means jobs have been waiting already.
			if notified && r.cfg.Linger > 0 && !q.sleep(r.cfg.Linger) {
				return
			}
		}
		select {
		case r.slots <- struct{}{}:
		case <-q.stopping:
			return
		}
		select {
		case <-q.stopping:
			<-r.slots
			return
		default:
		}
		batch, token, err := r.claim()
		if err != nil {
			<-r.slots
			q.log.Warn("claim jobs", "kind", r.kind, "err", err)
			hot, wait = false, q.opts.PollInterval
			continue
		}
		if len(batch) == 0 {
			<-r.slots
			hot, wait = false, r.nextWait()
			continue
		}
		q.batches.Add(1)
		go r.work(batch, token)
		// A full batch suggests a backlog. With GroupByTarget a batch ends
		// at its target's last due job, not the kind's: keep claiming until
		// a claim comes back empty.
		hot = len(batch) == r.cfg.MaxBatch || r.cfg.GroupByTarget
		if !hot {
			wait = r.nextWait()
		}
	}
}

// nextWait is how long to sleep before the next claim if nothing wakes the
// poller: until the next job is due (a retry, a delayed job, an expiring
// lease), at most PollInterval.
func (r *runner) nextWait() time.Duration {
	poll := r.q.opts.PollInterval
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	var due time.Time
	if err := r.q.rdb.QueryRowContext(ctx, r.nextDueSQL, r.kind).Scan(timeScan{&due}); err != nil {
		r.q.log.Warn("next due job", "kind", r.kind, "err", err)
		return poll
	}
	if due.IsZero() {
		return poll
	}
	return min(max(due.Sub(r.q.opts.Clock()), minWait), poll)
}

// claim leases up to MaxBatch due jobs, ordered by id (enqueue order).
func (r *runner) claim() ([]Job, int64, error) {
	q := r.q
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	now := q.opts.Clock()
	token := rand.Int64N(1<<62) + 1
	rows, err := q.db.QueryContext(ctx, r.claimSQL,
		r.kind, q.d.timeArg(now), r.cfg.MaxBatch, q.d.timeArg(now.Add(r.lease)), token)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var batch []Job
	for rows.Next() {
		j := Job{Kind: r.kind}
		var payload sql.NullString
		if err := rows.Scan(&j.ID, &j.ProjectID, &j.Target, &j.EventID, &payload,
			&j.Attempt, timeScan{&j.CreatedAt}, timeScan{&j.RunAt}); err != nil {
			return nil, 0, err
		}
		if payload.Valid {
			j.Payload = []byte(payload.String)
		}
		batch = append(batch, j)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	slices.SortFunc(batch, func(a, b Job) int { return cmp.Compare(a.ID, b.ID) })
	return batch, token, nil
}

// work runs one batch through the handler and records the outcomes. No
// transaction is open while the handler runs.
func (r *runner) work(batch []Job, token int64) {
	defer r.q.batches.Done()
	defer func() { <-r.slots }()

	// A job claimed again after its lease expired on its last attempt (its
	// worker died, perhaps because of the job) is not run again.
	outs := make([]Outcome, len(batch))
	run := make([]Job, 0, len(batch))
	idx := make([]int, 0, len(batch))
	for i, j := range batch {
		if j.Attempt > r.cfg.MaxAttempts {
			outs[i] = Outcome{Err: errors.New("lease expired on the last attempt"), Discard: true}
			continue
		}
		run = append(run, j)
		idx = append(idx, i)
	}
	state := &batchState{r: r, token: token}
	if len(run) > 0 {
		start := time.Now()
		got := r.call(run, state)
		r.q.obs.BatchWorked(r.kind, len(run), time.Since(start))
		for k, i := range idx {
			if k < len(got) {
				outs[i] = got[k]
			} else {
				outs[i] = Outcome{Err: fmt.Errorf("handler returned %d outcomes for %d jobs", len(got), len(run))}
			}
		}
	}
	r.complete(batch, token, outs, state)
}

// call runs the handler with the kind's timeout, turning a panic into a
// failure of the whole batch.
func (r *runner) call(batch []Job, state *batchState) (outs []Outcome) {
	ctx, cancel := context.WithTimeout(context.WithValue(r.q.handlerCtx, batchKey{}, state), r.cfg.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			r.q.log.Error("job handler panic", "kind", r.kind, "panic", p, "stack", string(debug.Stack()))
			err := fmt.Errorf("handler panic: %v", p)
			outs = make([]Outcome, len(batch))
			for i := range outs {
				outs[i].Err = err
			}
		}
	}()
	return r.cfg.Handler(ctx, batch)
}

// completeStatement is the statement that marks the jobs ids done, if they
// still hold the lease token, and its arguments.
func (r *runner) completeStatement(token int64, ids []any) (string, []any) {
	q := r.q
	if q.opts.CompletedRetention > 0 {
		s := "UPDATE jobs SET state = 'completed', due_at = NULL, finished_at = ? WHERE lease_token = ? AND id IN (" + placeholders(len(ids)) + ")"
		return q.d.rebind(s), append([]any{q.d.timeArg(q.opts.Clock()), token}, ids...)
	}
	s := "DELETE FROM jobs WHERE lease_token = ? AND id IN (" + placeholders(len(ids)) + ")"
	return q.d.rebind(s), append([]any{token}, ids...)
}

// complete writes a batch's outcomes: one statement for the jobs that
// succeeded, one per failure, all in one transaction. Every statement
// matches the batch's lease token, so a worker that lost its lease changes
// nothing. Successes the handler already recorded in a transaction of its
// own (CompleteInTx) are not written again.
func (r *runner) complete(batch []Job, token int64, outs []Outcome, state *batchState) {
	q := r.q
	now := q.opts.Clock()
	var done []any
	inTx := 0
	type failure struct {
		id      int64
		discard bool
		at      time.Time
		msg     string
	}
	var failed []failure
	for i, j := range batch {
		o := outs[i]
		if o.Err == nil {
			if state != nil && state.isCommitted(j.ID) {
				inTx++
			} else {
				done = append(done, j.ID)
			}
			continue
		}
		f := failure{id: j.ID, msg: o.Err.Error()}
		switch {
		case o.Discard || j.Attempt >= r.cfg.MaxAttempts:
			f.discard = true
		case !o.RetryAt.IsZero():
			f.at = o.RetryAt
		default:
			f.at = now.Add(jitter(r.cfg.Retry(j.Attempt)))
		}
		failed = append(failed, f)
	}

	var stmts []func(ctx context.Context, ex execer) (int64, error)
	if len(done) > 0 {
		s, args := r.completeStatement(token, done)
		stmts = append(stmts, func(ctx context.Context, ex execer) (int64, error) {
			return rowsAffected(ex.ExecContext(ctx, s, args...))
		})
	}
	retrySQL := q.d.rebind(`UPDATE jobs SET state = 'retryable', run_at = ?, due_at = ?, last_error = ?
		WHERE id = ? AND lease_token = ?`)
	discardSQL := q.d.rebind(`UPDATE jobs SET state = 'discarded', due_at = NULL, finished_at = ?, last_error = ?
		WHERE id = ? AND lease_token = ?`)
	for _, f := range failed {
		stmts = append(stmts, func(ctx context.Context, ex execer) (int64, error) {
			if f.discard {
				return rowsAffected(ex.ExecContext(ctx, discardSQL, q.d.timeArg(now), f.msg, f.id, token))
			}
			at := q.d.timeArg(f.at)
			return rowsAffected(ex.ExecContext(ctx, retrySQL, at, at, f.msg, f.id, token))
		})
	}

	written, err := r.writeOutcomes(stmts)
	nDone, nRetried, nDiscarded := len(done)+inTx, 0, 0
	for _, f := range failed {
		if f.discard {
			nDiscarded++
		} else {
			nRetried++
		}
	}
	if err != nil {
		q.log.Error("record job outcomes", "kind", r.kind, "jobs", len(batch)-inTx, "err", err)
		q.obs.JobsWorked(r.kind, ResultLost, len(batch)-inTx)
		if inTx > 0 {
			q.obs.JobsWorked(r.kind, ResultCompleted, inTx)
		}
		return
	}
	if lost := len(batch) - inTx - int(written); lost > 0 {
		// Only possible when the lease expired during the handler call and
		// the jobs were claimed again; they run again there. Which outcomes
		// were dropped is unknown: count them against successes first, the
		// common case.
		q.log.Warn("job lease lost before completion", "kind", r.kind, "jobs", lost)
		q.obs.JobsWorked(r.kind, ResultLost, lost)
		for _, n := range []*int{&nDone, &nRetried, &nDiscarded} {
			d := min(lost, *n)
			*n -= d
			lost -= d
		}
	}
	report := func(res Result, n int) {
		if n > 0 {
			q.obs.JobsWorked(r.kind, res, n)
		}
	}
	report(ResultCompleted, nDone)
	report(ResultRetried, nRetried)
	report(ResultDiscarded, nDiscarded)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// writeOutcomes runs the statements, in one transaction when there is more
// than one, retrying a few times: a lost write means the batch runs again.
func (r *runner) writeOutcomes(stmts []func(context.Context, execer) (int64, error)) (int64, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		var n int64
		n, err = r.writeOnce(stmts)
		if err == nil {
			return n, nil
		}
	}
	return 0, err
}

func (r *runner) writeOnce(stmts []func(context.Context, execer) (int64, error)) (int64, error) {
	if len(stmts) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	if len(stmts) == 1 {
		return stmts[0](ctx, r.q.db)
	}
	tx, err := r.q.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var total int64
	for _, s := range stmts {
		n, err := s(ctx, tx)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, tx.Commit()
}

// jitter spreads retries by ±20% so that jobs failing together (an endpoint
// down) do not all come back at the same instant.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
