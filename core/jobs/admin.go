package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

const recordColumns = `id, kind, project_id, target, event_id, payload, attempt, created_at, run_at,
	state, due_at, finished_at, last_error`

func scanRecord(sc interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var payload, lastErr sql.NullString
	var state string
	if err := sc.Scan(&r.ID, &r.Kind, &r.ProjectID, &r.Target, &r.EventID, &payload, &r.Attempt,
		timeScan{&r.CreatedAt}, timeScan{&r.RunAt}, &state, timeScan{&r.LeaseUntil},
		timeScan{&r.FinishedAt}, &lastErr); err != nil {
		return Record{}, err
	}
	if payload.Valid {
		r.Payload = []byte(payload.String)
	}
	r.State = State(state)
	r.LastError = lastErr.String
	if r.State != StateRunning {
		// due_at of a waiting job is its run_at, not a lease.
		r.LeaseUntil = time.Time{}
	}
	return r, nil
}

// Get returns the job with id. Completed jobs are kept only for
// CompletedRetention (by default not at all): ErrNotFound then.
func (q *Queue) Get(ctx context.Context, id int64) (Record, error) {
	row := q.rdb.QueryRowContext(ctx, q.d.rebind("SELECT "+recordColumns+" FROM jobs WHERE id = ?"), id)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("get job %d: %w", id, err)
	}
	return r, nil
}

// List returns the jobs matching f in id order, at most f.Limit; pass the
// last id as f.AfterID for the next page.
func (q *Queue) List(ctx context.Context, f Filter) ([]Record, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	add("id > ?", f.AfterID)
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.State != "" {
		add("state = ?", string(f.State))
	}
	if f.ProjectID != "" {
		add("project_id = ?", f.ProjectID)
	}
	if f.Target != "" {
		add("target = ?", f.Target)
	}
	if f.EventID != "" {
		add("event_id = ?", f.EventID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, min(limit, 1000))
	query := "SELECT " + recordColumns + " FROM jobs WHERE " + strings.Join(where, " AND ") + " ORDER BY id LIMIT ?"
	rows, err := q.rdb.QueryContext(ctx, q.d.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

// RetryNow makes a waiting, retryable or discarded job due now with a fresh
// attempt budget (attempt starts again at 1); its last error is kept. It
// returns ErrNotFound for an unknown (or already cleaned) job and
// ErrNotRetryable for a running or completed one.
func (q *Queue) RetryNow(ctx context.Context, id int64) error {
	now := q.d.timeArg(q.opts.Clock())
	var kind string
	err := q.db.QueryRowContext(ctx, q.d.rebind(`UPDATE jobs
		SET state = 'available', attempt = 0, run_at = ?, due_at = ?, finished_at = NULL
		WHERE id = ? AND state IN ('available', 'retryable', 'discarded')
		RETURNING kind`), now, now, id).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		var state string
		err := q.db.QueryRowContext(ctx, q.d.rebind("SELECT state FROM jobs WHERE id = ?"), id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("retry job %d: %w", id, err)
		}
		return ErrNotRetryable
	}
	if err != nil {
		return fmt.Errorf("retry job %d: %w", id, err)
	}
	q.notifyKind(kind)
	return nil
}

// Stats returns the backlog of every kind that has jobs or is registered.
func (q *Queue) Stats(ctx context.Context) (map[string]KindStats, error) {
	now := q.opts.Clock()
	out := make(map[string]KindStats)
	q.mu.Lock()
	for k := range q.kinds {
		out[k] = KindStats{}
	}
	q.mu.Unlock()

	nowArg := q.d.timeArg(now)
	rows, err := q.rdb.QueryContext(ctx, q.d.rebind(`SELECT kind, state, count(*),
			sum(CASE WHEN due_at <= ? THEN 1 ELSE 0 END),
			min(CASE WHEN due_at <= ? THEN run_at END)
		FROM jobs WHERE due_at IS NOT NULL GROUP BY kind, state`), nowArg, nowArg)
	if err != nil {
		return nil, fmt.Errorf("job stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, state string
		var n, due int64
		var oldest time.Time
		if err := rows.Scan(&kind, &state, &n, &due, timeScan{&oldest}); err != nil {
			return nil, fmt.Errorf("job stats: %w", err)
		}
		s := out[kind]
		switch State(state) {
		case StateRunning:
			s.Running += n
		default:
			s.Pending += due
			s.Scheduled += n - due
			if !oldest.IsZero() {
				s.OldestAge = max(s.OldestAge, now.Sub(oldest))
			}
		}
		out[kind] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("job stats: %w", err)
	}

	rows, err = q.rdb.QueryContext(ctx, q.d.rebind(`SELECT kind, count(*) FROM jobs
		WHERE finished_at IS NOT NULL AND state = ? GROUP BY kind`), string(StateDiscarded))
	if err != nil {
		return nil, fmt.Errorf("job stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, fmt.Errorf("job stats: %w", err)
		}
		s := out[kind]
		s.Discarded = n
		out[kind] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("job stats: %w", err)
	}
	return out, nil
}
