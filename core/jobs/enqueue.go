package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// enqueueChunk bounds the rows of one INSERT: 8 parameters a row keeps a
// statement far below SQLite's 32766 and PostgreSQL's 65535 parameters,
// while one statement still carries a whole group-commit batch's jobs.
const enqueueChunk = 500

// insertSQL caches the INSERT text per dialect and row count, so the hot
// path builds no strings.
var insertSQL [2]sync.Map // map[int]string

func insertStatement(d Dialect, rows int) string {
	if s, ok := insertSQL[d].Load(rows); ok {
		return s.(string)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO jobs (kind, project_id, target, event_id, payload, state, created_at, run_at, due_at) VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		// run_at and due_at take the same parameter: a new job is due when
		// it is scheduled.
		b.WriteString("(?, ?, ?, ?, ?, 'available', ?, ?, ?)")
	}
	s := d.rebind(b.String())
	insertSQL[d].Store(rows, s)
	return s
}

// Enqueue inserts jobs inside the caller's transaction, so they are
// committed, or rolled back, with the change that caused them. It does not
// wake workers: after the commit, call Queue.Notify.
func Enqueue(ctx context.Context, tx *sql.Tx, d Dialect, jobs []NewJob) error {
	if !d.valid() {
		return fmt.Errorf("enqueue jobs: unknown dialect %d", d)
	}
	if len(jobs) == 0 {
		return nil
	}
	now := time.Now()
	created := d.timeArg(now)
	args := make([]any, 0, 8*min(len(jobs), enqueueChunk))
	for start := 0; start < len(jobs); start += enqueueChunk {
		chunk := jobs[start:min(start+enqueueChunk, len(jobs))]
		args = args[:0]
		for i := range chunk {
			j := &chunk[i]
			if j.Kind == "" {
				return errors.New("enqueue jobs: empty kind")
			}
			runAt := created
			if !j.RunAt.IsZero() {
				runAt = d.timeArg(j.RunAt)
			}
			args = append(args, j.Kind, j.ProjectID, j.Target, j.EventID,
				nullString(string(j.Payload)), created, runAt, runAt)
		}
		if _, err := tx.ExecContext(ctx, insertStatement(d, len(chunk)), args...); err != nil {
			return fmt.Errorf("enqueue %d jobs: %w", len(chunk), err)
		}
	}
	return nil
}
