package jobs_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core/jobs"
)

func TestEnqueueCommitsWithTheCallersTransaction(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		ctx := context.Background()
		tx, err := tdb.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := jobs.Enqueue(ctx, tx, tdb.d, newJobs("k", 3)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := count(t, tdb, "1=1"); n != 0 {
			t.Fatalf("rolled back enqueue left %d jobs", n)
		}

		// More rows than one INSERT carries: chunked, all or nothing.
		enqueue(t, tdb, newJobs("k", 1234)...)
		if n := count(t, tdb, "state = 'available' AND attempt = 0"); n != 1234 {
			t.Fatalf("got %d available jobs, want 1234", n)
		}

		tx, _ = tdb.db.Begin()
		defer tx.Rollback()
		if err := jobs.Enqueue(ctx, tx, tdb.d, []jobs.NewJob{{Kind: ""}}); err == nil {
			t.Fatal("empty kind accepted")
		}
	})
}

func TestJobRoundTrip(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		enqueue(t, tdb,
			jobs.NewJob{Kind: "k", ProjectID: "p", Target: "hook1", EventID: "e1", Payload: []byte(`{"a": [1, 2]}`)},
			jobs.NewJob{Kind: "k", ProjectID: "p", RunAt: later})
		q := jobs.New(tdb.db, tdb.d, jobs.Options{ReadDB: tdb.readDB})
		list, err := q.List(context.Background(), jobs.Filter{Kind: "k"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("listed %d jobs", len(list))
		}
		a, b := list[0], list[1]
		if a.Target != "hook1" || a.EventID != "e1" || a.ProjectID != "p" || string(a.Payload) != `{"a": [1, 2]}` || a.State != jobs.StateAvailable {
			t.Fatalf("first job came back as %+v", a)
		}
		if b.Payload != nil || !b.RunAt.Equal(later) || time.Since(b.CreatedAt) > time.Minute {
			t.Fatalf("second job came back as %+v", b)
		}
		got, err := q.Get(context.Background(), b.ID)
		if err != nil || got.ID != b.ID {
			t.Fatalf("get: %+v, %v", got, err)
		}
		if _, err := q.Get(context.Background(), 999999); !errors.Is(err, jobs.ErrNotFound) {
			t.Fatalf("get unknown id: %v", err)
		}
		page, err := q.List(context.Background(), jobs.Filter{Kind: "k", AfterID: a.ID, Limit: 1})
		if err != nil || len(page) != 1 || page[0].ID != b.ID {
			t.Fatalf("second page: %+v, %v", page, err)
		}
	})
}

func TestBatches(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		t.Run("max batch", func(t *testing.T) {
			enqueue(t, tdb, newJobs("max", 25)...)
			rec := newRecorder(nil)
			newQueue(t, tdb, jobs.Options{}, map[string]jobs.KindConfig{
				"max": {Handler: rec.handle, MaxBatch: 10},
			})
			waitFor(t, 5*time.Second, "25 jobs", func() bool { return rec.worked() == 25 })
			var sizes []int
			var ids []int64
			for _, b := range rec.batches {
				sizes = append(sizes, len(b))
				for _, j := range b {
					ids = append(ids, j.ID)
				}
			}
			if !slices.Equal(sizes, []int{10, 10, 5}) {
				t.Fatalf("batch sizes %v, want [10 10 5]", sizes)
			}
			if !slices.IsSorted(ids) {
				t.Fatalf("jobs not worked in enqueue order: %v", ids)
			}
			waitFor(t, 5*time.Second, "completed jobs deleted", func() bool { return count(t, tdb, "kind = 'max'") == 0 })
		})

		t.Run("linger", func(t *testing.T) {
			rec := newRecorder(nil)
			q := newQueue(t, tdb, jobs.Options{PollInterval: time.Hour}, map[string]jobs.KindConfig{
				"linger": {Handler: rec.handle, MaxBatch: 100, Linger: 300 * time.Millisecond},
			})
			// The claim at start-up does not linger (a backlog has waited
			// already): let it pass before the first commit.
			time.Sleep(50 * time.Millisecond)
			// Three commits within the linger time make one batch.
			for i := 0; i < 3; i++ {
				enqueue(t, tdb, newJobs("linger", 2)...)
				q.Notify()
				time.Sleep(30 * time.Millisecond)
			}
			waitFor(t, 5*time.Second, "6 jobs", func() bool { return rec.worked() == 6 })
			if len(rec.batches) != 1 {
				t.Fatalf("got %d batches, want 1", len(rec.batches))
			}
		})

		t.Run("group by target", func(t *testing.T) {
			var js []jobs.NewJob
			for i := 0; i < 30; i++ {
				js = append(js, jobs.NewJob{Kind: "group", Target: []string{"a", "b", "c"}[i%3]})
			}
			enqueue(t, tdb, js...)
			rec := newRecorder(nil)
			newQueue(t, tdb, jobs.Options{}, map[string]jobs.KindConfig{
				"group": {Handler: rec.handle, MaxBatch: 4, GroupByTarget: true, Workers: 2},
			})
			waitFor(t, 5*time.Second, "30 jobs", func() bool { return rec.worked() == 30 })
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, b := range rec.batches {
				if len(b) > 4 {
					t.Errorf("batch of %d > MaxBatch", len(b))
				}
				for _, j := range b {
					if j.Target != b[0].Target {
						t.Errorf("batch mixes targets %q and %q", b[0].Target, j.Target)
					}
				}
			}
			// 10 jobs per target at most 4 a batch: 3 batches each.
			if len(rec.batches) != 9 {
				t.Errorf("got %d batches, want 9", len(rec.batches))
			}
		})
	})
}

func TestRetries(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		t.Run("backoff then success", func(t *testing.T) {
			enqueue(t, tdb, newJobs("flaky", 1)...)
			rec := newRecorder(func(j jobs.Job) jobs.Outcome {
				if j.Attempt < 3 {
					return jobs.Outcome{Err: errors.New("try again")}
				}
				return jobs.Outcome{}
			})
			obs := newObserver()
			var scheduled []int
			newQueue(t, tdb, jobs.Options{Observer: obs}, map[string]jobs.KindConfig{
				"flaky": {Handler: rec.handle, Retry: func(attempt int) time.Duration {
					scheduled = append(scheduled, attempt)
					return time.Duration(attempt) * 150 * time.Millisecond
				}},
			})
			waitFor(t, 5*time.Second, "3 attempts", func() bool { return rec.worked() == 3 })
			waitFor(t, 5*time.Second, "completion", func() bool { return obs.result(jobs.ResultCompleted) == 1 })
			id := rec.batches[0][0].ID
			if got := rec.attempts(id); !slices.Equal(got, []int{1, 2, 3}) {
				t.Fatalf("attempts %v", got)
			}
			if !slices.Equal(scheduled, []int{1, 2}) {
				t.Fatalf("Retry called for attempts %v", scheduled)
			}
			ts := rec.times[id]
			// Backoff 150ms then 300ms, each -20% at most.
			if d := ts[1].Sub(ts[0]); d < 120*time.Millisecond {
				t.Errorf("second attempt after %s, want ≥120ms", d)
			}
			if d := ts[2].Sub(ts[1]); d < 240*time.Millisecond {
				t.Errorf("third attempt after %s, want ≥240ms", d)
			}
			if obs.result(jobs.ResultRetried) != 2 {
				t.Errorf("observer saw %v", obs.results)
			}
		})

		t.Run("retry at", func(t *testing.T) {
			enqueue(t, tdb, newJobs("retryat", 1)...)
			at := time.Now().Add(400 * time.Millisecond)
			rec := newRecorder(func(j jobs.Job) jobs.Outcome {
				if j.Attempt == 1 {
					return jobs.Outcome{Err: errors.New("429"), RetryAt: at}
				}
				return jobs.Outcome{}
			})
			q := newQueue(t, tdb, jobs.Options{}, map[string]jobs.KindConfig{
				// The schedule says an hour; RetryAt wins.
				"retryat": {Handler: rec.handle, Retry: func(int) time.Duration { return time.Hour }},
			})
			waitFor(t, 5*time.Second, "first attempt", func() bool { return rec.worked() == 1 })
			id := rec.batches[0][0].ID
			waitFor(t, 5*time.Second, "retryable", func() bool {
				r, err := q.Get(context.Background(), id)
				return err == nil && r.State == jobs.StateRetryable
			})
			r, _ := q.Get(context.Background(), id)
			if r.LastError != "429" || r.RunAt.Sub(at).Abs() > time.Millisecond {
				t.Fatalf("retryable job: %+v", r)
			}
			waitFor(t, 5*time.Second, "second attempt", func() bool { return rec.worked() == 2 })
			if d := rec.times[id][1].Sub(at); d < 0 {
				t.Fatalf("retried %s before RetryAt", -d)
			}
		})

		t.Run("discard and retry now", func(t *testing.T) {
			enqueue(t, tdb, newJobs("discard", 1)...)
			fail := true
			var mu sync.Mutex
			rec := newRecorder(func(j jobs.Job) jobs.Outcome {
				mu.Lock()
				defer mu.Unlock()
				if fail {
					return jobs.Outcome{Err: errors.New("410 gone"), Discard: true}
				}
				return jobs.Outcome{}
			})
			obs := newObserver()
			q := newQueue(t, tdb, jobs.Options{Observer: obs, CompletedRetention: time.Hour}, map[string]jobs.KindConfig{
				"discard": {Handler: rec.handle},
			})
			waitFor(t, 5*time.Second, "discard", func() bool { return obs.result(jobs.ResultDiscarded) == 1 })
			id := rec.batches[0][0].ID
			r, err := q.Get(context.Background(), id)
			if err != nil || r.State != jobs.StateDiscarded || r.Attempt != 1 || r.LastError != "410 gone" || r.FinishedAt.IsZero() {
				t.Fatalf("discarded job: %+v, %v", r, err)
			}
			time.Sleep(100 * time.Millisecond)
			if rec.worked() != 1 {
				t.Fatal("discarded job ran again")
			}
			mu.Lock()
			fail = false
			mu.Unlock()
			if err := q.RetryNow(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "replay", func() bool { return obs.result(jobs.ResultCompleted) == 1 })
			if got := rec.attempts(id); !slices.Equal(got, []int{1, 1}) {
				t.Fatalf("attempts %v: a replay starts a fresh attempt budget", got)
			}
			r, _ = q.Get(context.Background(), id)
			if r.State != jobs.StateCompleted {
				t.Fatalf("replayed job: %+v", r)
			}
			if err := q.RetryNow(context.Background(), id); !errors.Is(err, jobs.ErrNotRetryable) {
				t.Fatalf("retry of a completed job: %v", err)
			}
			if err := q.RetryNow(context.Background(), 424242); !errors.Is(err, jobs.ErrNotFound) {
				t.Fatalf("retry of an unknown job: %v", err)
			}
		})

		t.Run("max attempts", func(t *testing.T) {
			enqueue(t, tdb, newJobs("doomed", 2)...)
			rec := newRecorder(func(j jobs.Job) jobs.Outcome { return jobs.Outcome{Err: errors.New("boom")} })
			obs := newObserver()
			newQueue(t, tdb, jobs.Options{Observer: obs}, map[string]jobs.KindConfig{
				"doomed": {Handler: rec.handle, MaxBatch: 10, MaxAttempts: 3, Retry: func(int) time.Duration { return 10 * time.Millisecond }},
			})
			waitFor(t, 5*time.Second, "discards", func() bool { return obs.result(jobs.ResultDiscarded) == 2 })
			for id, att := range rec.runs {
				if !slices.Equal(att, []int{1, 2, 3}) {
					t.Errorf("job %d attempts %v", id, att)
				}
			}
			if n := count(t, tdb, "kind = 'doomed' AND state = 'discarded' AND attempt = 3 AND due_at IS NULL"); n != 2 {
				t.Fatalf("%d discarded rows", n)
			}
		})

		t.Run("panic and short answer", func(t *testing.T) {
			enqueue(t, tdb, newJobs("bad", 2)...)
			var mu sync.Mutex
			calls := 0
			obs := newObserver()
			newQueue(t, tdb, jobs.Options{Observer: obs}, map[string]jobs.KindConfig{
				// No delay, so no jitter: both retries fall due at the same
				// instant and stay one batch, which the call count relies on.
				"bad": {MaxBatch: 2, Retry: func(int) time.Duration { return 0 },
					Handler: func(ctx context.Context, b []jobs.Job) []jobs.Outcome {
						mu.Lock()
						calls++
						c := calls
						mu.Unlock()
						switch c {
						case 1:
							panic("handler bug")
						case 2:
							return nil // no outcomes: all failed
						}
						return make([]jobs.Outcome, len(b))
					}},
			})
			waitFor(t, 5*time.Second, "completion", func() bool { return obs.result(jobs.ResultCompleted) == 2 })
			if obs.result(jobs.ResultRetried) != 4 {
				t.Fatalf("observer saw %v", obs.results)
			}
		})
	})
}

// A worker that stops answering (hung, or on a replica that died) loses its
// jobs when the lease expires; another worker runs them again, and the late
// answer of the first changes nothing.
func TestLeaseExpiry(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		enqueue(t, tdb, newJobs("lease", 3)...)
		release := make(chan struct{})
		claimed := make(chan struct{})
		var claimedAt time.Time // written before claimed is closed
		var once sync.Once
		obsA := newObserver()
		newQueue(t, tdb, jobs.Options{Observer: obsA, LeaseDuration: 300 * time.Millisecond}, map[string]jobs.KindConfig{
			"lease": {MaxBatch: 10, Timeout: 50 * time.Millisecond, Handler: func(ctx context.Context, b []jobs.Job) []jobs.Outcome {
				once.Do(func() { claimedAt = time.Now(); close(claimed) })
				<-release // ignores its context: a hung worker
				return make([]jobs.Outcome, len(b))
			}},
		})
		<-claimed
		if n := count(t, tdb, "state = 'running' AND attempt = 1"); n != 3 {
			t.Fatalf("%d running jobs", n)
		}

		rec := newRecorder(nil)
		newQueue(t, tdb, jobs.Options{}, map[string]jobs.KindConfig{
			"lease": {Handler: rec.handle, MaxBatch: 10},
		})
		waitFor(t, 5*time.Second, "jobs taken over", func() bool { return rec.worked() == 3 })
		// Measured from the claim, not from the second queue's start: the
		// setup in between may take a while on a loaded machine.
		if d := time.Since(claimedAt); d < 200*time.Millisecond {
			t.Errorf("taken over %s after the claim, before the lease expired", d)
		}
		for _, j := range rec.batches[0] {
			if j.Attempt != 2 {
				t.Errorf("job %d attempt %d, want 2", j.ID, j.Attempt)
			}
		}
		waitFor(t, 5*time.Second, "jobs deleted", func() bool { return count(t, tdb, "1=1") == 0 })

		// Late answer: fenced by the lease token.
		enqueue(t, tdb, newJobs("other", 1)...)
		close(release)
		waitFor(t, 5*time.Second, "lost outcome", func() bool { return obsA.result(jobs.ResultLost) == 3 })
		if obsA.result(jobs.ResultCompleted) != 0 {
			t.Fatalf("stale worker reported %v", obsA.results)
		}
		if n := count(t, tdb, "1=1"); n != 1 {
			t.Fatalf("stale completion touched other rows: %d left", n)
		}
	})
}

// A job that keeps killing its worker is not run forever: reclaimed after
// its last attempt's lease expired, it is discarded unworked.
func TestLeaseExpiredOnLastAttempt(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		enqueue(t, tdb, newJobs("poison", 1)...)
		if _, err := tdb.db.Exec(`UPDATE jobs SET state = 'running', attempt = 2, lease_token = 7`); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(nil)
		obs := newObserver()
		newQueue(t, tdb, jobs.Options{Observer: obs}, map[string]jobs.KindConfig{
			"poison": {Handler: rec.handle, MaxAttempts: 2},
		})
		waitFor(t, 5*time.Second, "discard", func() bool { return obs.result(jobs.ResultDiscarded) == 1 })
		if rec.worked() != 0 {
			t.Fatal("poison job ran again")
		}
	})
}

func TestStopFinishesInFlightBatches(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		enqueue(t, tdb, newJobs("slow", 5)...)
		started := make(chan struct{})
		var once sync.Once
		q := jobs.New(tdb.db, tdb.d, jobs.Options{PollInterval: 20 * time.Millisecond})
		q.Register("slow", jobs.KindConfig{MaxBatch: 5, Handler: func(ctx context.Context, b []jobs.Job) []jobs.Outcome {
			once.Do(func() { close(started) })
			time.Sleep(200 * time.Millisecond)
			return make([]jobs.Outcome, len(b))
		}})
		if err := q.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-started
		if err := q.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := count(t, tdb, "1=1"); n != 0 {
			t.Fatalf("%d jobs left after a graceful stop", n)
		}

		// Out of time: handlers are cancelled and Stop reports it.
		enqueue(t, tdb, newJobs("stuck", 1)...)
		q2 := jobs.New(tdb.db, tdb.d, jobs.Options{PollInterval: 20 * time.Millisecond})
		running := make(chan struct{})
		q2.Register("stuck", jobs.KindConfig{Handler: func(ctx context.Context, b []jobs.Job) []jobs.Outcome {
			close(running)
			<-ctx.Done()
			return []jobs.Outcome{{Err: ctx.Err()}}
		}})
		if err := q2.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-running
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := q2.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stop: %v", err)
		}
		if n := count(t, tdb, "state = 'retryable'"); n != 1 {
			t.Fatalf("cancelled job not recorded for retry (%d)", n)
		}
	})
}

func TestStatsAndClean(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		base := time.Now()
		var mu sync.Mutex
		offset := time.Duration(0)
		clock := func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return time.Now().Add(offset)
		}
		enqueue(t, tdb, jobs.NewJob{Kind: "s", RunAt: base.Add(-time.Minute)}, jobs.NewJob{Kind: "s"},
			jobs.NewJob{Kind: "s", RunAt: base.Add(time.Hour)})
		q := jobs.New(tdb.db, tdb.d, jobs.Options{ReadDB: tdb.readDB, Clock: clock, CompletedRetention: time.Minute})
		q.Register("idle", jobs.KindConfig{Handler: func(context.Context, []jobs.Job) []jobs.Outcome { return nil }})
		st, err := q.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s := st["s"]
		if s.Pending != 2 || s.Scheduled != 1 || s.Running != 0 || s.OldestAge < time.Minute || s.OldestAge > 2*time.Minute {
			t.Fatalf("stats %+v", s)
		}
		if _, ok := st["idle"]; !ok {
			t.Fatal("registered kind without jobs missing from stats")
		}

		// Completed and discarded rows go after their retention.
		if _, err := tdb.db.Exec(`UPDATE jobs SET state = 'completed', due_at = NULL, finished_at = run_at WHERE id = 2`); err != nil {
			t.Fatal(err)
		}
		if n, err := q.Clean(context.Background()); err != nil || n != 0 {
			t.Fatalf("clean within retention: %d, %v", n, err)
		}
		mu.Lock()
		offset = 2 * time.Minute
		mu.Unlock()
		if n, err := q.Clean(context.Background()); err != nil || n != 1 {
			t.Fatalf("clean: %d, %v", n, err)
		}
	})
}

// Two queues (two replicas) on one PostgreSQL database never work one job at
// the same time, and between them work every job once.
func TestReplicasShareWorkPostgres(t *testing.T) {
	tdb := newPostgres(t)
	const n = 3000
	enqueue(t, tdb, newJobs("shared", n)...)
	var mu sync.Mutex
	inflight := map[int64]bool{}
	runs := map[int64]int{}
	byReplica := [2]int{}
	handler := func(replica int) jobs.HandlerFunc {
		return func(ctx context.Context, b []jobs.Job) []jobs.Outcome {
			mu.Lock()
			for _, j := range b {
				if inflight[j.ID] {
					t.Errorf("job %d worked by two replicas at once", j.ID)
				}
				inflight[j.ID] = true
				runs[j.ID]++
			}
			byReplica[replica] += len(b)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			for _, j := range b {
				delete(inflight, j.ID)
			}
			mu.Unlock()
			return make([]jobs.Outcome, len(b))
		}
	}
	for r := 0; r < 2; r++ {
		other := &testDB{d: tdb.d, dsn: tdb.dsn, db: openDB(t, tdb.d, tdb.dsn)}
		other.readDB = other.db
		newQueue(t, other, jobs.Options{}, map[string]jobs.KindConfig{
			"shared": {Handler: handler(r), MaxBatch: 20, Workers: 4},
		})
	}
	waitFor(t, 30*time.Second, "all jobs", func() bool { return count(t, tdb, "1=1") == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != n {
		t.Fatalf("%d distinct jobs worked, want %d", len(runs), n)
	}
	for id, c := range runs {
		if c != 1 {
			t.Errorf("job %d worked %d times", id, c)
		}
	}
	if byReplica[0] == 0 || byReplica[1] == 0 {
		t.Errorf("one replica did all the work: %v", byReplica)
	}
}
