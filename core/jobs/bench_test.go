package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core/jobs"
)

// Figures these benchmarks print are jobs per second; b.N is a job count,
// so -benchtime=100x is a quick smoke run and -benchtime=50000x a
// measurement.

const benchTxOps = 200 // callers sharing one group-commit transaction

// forEachDialectB runs fn on SQLite, and on PostgreSQL when its URL is set.
func forEachDialectB(b *testing.B, fn func(b *testing.B, tdb *testDB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, newSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, newPostgres(b)) })
}

// enqueueN enqueues n jobs in transactions of benchTxOps callers, each
// caller enqueueing perOp jobs with its own Enqueue call, as the store does.
func enqueueN(b *testing.B, tdb *testDB, n, perOp int, after func()) {
	ctx := context.Background()
	js := newJobs("bench", perOp)
	for done := 0; done < n; {
		tx, err := tdb.db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		for op := 0; op < benchTxOps && done < n; op++ {
			k := min(perOp, n-done)
			if err := jobs.Enqueue(ctx, tx, tdb.d, js[:k]); err != nil {
				b.Fatal(err)
			}
			done += k
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if after != nil {
			after()
		}
	}
}

func BenchmarkEnqueue(b *testing.B) {
	for _, perOp := range []int{1, 4} {
		b.Run(fmt.Sprintf("%d-per-op", perOp), func(b *testing.B) {
			forEachDialectB(b, func(b *testing.B, tdb *testDB) {
				b.ResetTimer()
				start := time.Now()
				enqueueN(b, tdb, b.N, perOp, nil)
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
			})
		})
	}
}

// benchQueue starts a queue of no-op batches of 100 and returns a channel
// that is closed when n jobs have completed.
func benchQueue(b *testing.B, tdb *testDB, n int) (*jobs.Queue, <-chan struct{}) {
	obs := newObserver()
	done := make(chan struct{})
	q := newQueue(b, tdb, jobs.Options{Observer: obs}, map[string]jobs.KindConfig{
		"bench": {MaxBatch: 100, Workers: 2, Linger: 5 * time.Millisecond,
			Handler: func(ctx context.Context, batch []jobs.Job) []jobs.Outcome {
				return make([]jobs.Outcome, len(batch))
			}},
	})
	go func() {
		defer close(done)
		for obs.result(jobs.ResultCompleted) < n {
			time.Sleep(time.Millisecond)
		}
	}()
	return q, done
}

func BenchmarkWork(b *testing.B) {
	forEachDialectB(b, func(b *testing.B, tdb *testDB) {
		enqueueN(b, tdb, b.N, 4, nil)
		b.ResetTimer()
		start := time.Now()
		_, done := benchQueue(b, tdb, b.N)
		<-done
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
	})
}

// BenchmarkEnqueueAndWork enqueues and works at once, sharing (on SQLite)
// the one writer connection, with a Notify after every commit.
func BenchmarkEnqueueAndWork(b *testing.B) {
	forEachDialectB(b, func(b *testing.B, tdb *testDB) {
		b.ResetTimer()
		start := time.Now()
		q, done := benchQueue(b, tdb, b.N)
		enqueueN(b, tdb, b.N, 2, q.Notify)
		enqueued := time.Since(start)
		<-done
		b.ReportMetric(float64(b.N)/enqueued.Seconds(), "enqueued/s")
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "worked/s")
	})
}
