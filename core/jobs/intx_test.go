package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core/jobs"
)

// A handler may complete its jobs in a transaction of its own: those that
// committed are not written again; those whose transaction rolled back get
// their outcome written as usual, success or failure.
func TestCompleteInTx(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		enqueue(t, tdb, newJobs("k", 5)...)
		if _, err := jobs.CompleteInTx(context.Background(), nil, []int64{1}); !errors.Is(err, jobs.ErrNoBatch) {
			t.Fatalf("outside a handler call: %v", err)
		}
		obs := newObserver()
		handled := make(chan error, 1)
		handler := func(ctx context.Context, batch []jobs.Job) []jobs.Outcome {
			outs := make([]jobs.Outcome, len(batch))
			ids := func(from, to int) []int64 {
				var out []int64
				for _, j := range batch[from:to] {
					out = append(out, j.ID)
				}
				return out
			}
			inTx := func(ids []int64, commit bool) error {
				tx, err := tdb.db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				n, err := jobs.CompleteInTx(ctx, tx, ids)
				if err != nil || n != int64(len(ids)) {
					tx.Rollback()
					return errors.Join(err, errors.New("not every job marked"))
				}
				if !commit {
					return tx.Rollback()
				}
				if err := tx.Commit(); err != nil {
					return err
				}
				jobs.CommittedInTx(ctx, ids)
				return nil
			}
			if len(batch) != 5 {
				handled <- errors.New("not one batch")
				return outs
			}
			err := errors.Join(
				inTx(ids(0, 2), true),  // jobs 1, 2: done in the handler's commit
				inTx(ids(2, 4), false), // jobs 3, 4: rolled back
			)
			outs[3] = jobs.Outcome{Err: errors.New("try again")} // job 4 failed; job 5 done, by the queue
			handled <- err
			return outs
		}
		newQueue(t, tdb, jobs.Options{Observer: obs}, map[string]jobs.KindConfig{
			"k": {Handler: handler, MaxBatch: 10, Retry: func(int) time.Duration { return time.Hour }},
		})
		if err := <-handled; err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "outcomes", func() bool { return count(t, tdb, "state = 'running'") == 0 })
		if n := count(t, tdb, "1 = 1"); n != 1 {
			t.Fatalf("%d jobs left, want the failed one", n)
		}
		if n := count(t, tdb, "state = 'retryable'"); n != 1 {
			t.Fatalf("%d jobs retryable", n)
		}
		waitFor(t, 5*time.Second, "reports", func() bool { return obs.result(jobs.ResultCompleted) == 4 })
		if obs.result(jobs.ResultRetried) != 1 || obs.result(jobs.ResultLost) != 0 {
			t.Fatalf("reported %d retried, %d lost", obs.result(jobs.ResultRetried), obs.result(jobs.ResultLost))
		}
	})
}
