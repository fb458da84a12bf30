package jobs_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core/jobs"
)

// Environment of the child process in TestKilledWorkerProcess.
const (
	childDSNEnv     = "LEADHUB_JOBS_CRASH_DSN"
	childDialectEnv = "LEADHUB_JOBS_CRASH_DIALECT"
)

// TestKilledWorkerProcess kills a worker process with SIGKILL in the middle
// of a batch; a new queue finishes its jobs once the lease has expired, and
// the jobs it had completed before dying are not worked again.
func TestKilledWorkerProcess(t *testing.T) {
	forEachDialect(t, func(t *testing.T, tdb *testDB) {
		enqueue(t, tdb, newJobs("crash", 40)...)

		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childDSNEnv+"="+tdb.dsn, childDialectEnv+"="+tdb.d.String())
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The child prints the ids of the batch it is stuck in.
		held := map[int64]bool{}
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if ids, ok := strings.CutPrefix(lines.Text(), "HOLD "); ok {
				for _, s := range strings.Fields(ids) {
					id, _ := strconv.ParseInt(s, 10, 64)
					held[id] = true
				}
				break
			}
		}
		if len(held) == 0 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("child never reached its second batch")
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code, no Stop
			t.Fatal(err)
		}
		cmd.Wait()

		// The first batch of 10 was completed (and deleted) before the
		// child died; the second is still leased to it.
		if n := count(t, tdb, "1=1"); n != 30 {
			t.Fatalf("%d jobs left after the crash, want 30", n)
		}
		if n := count(t, tdb, "state = 'running'"); n != 10 {
			t.Fatalf("%d jobs running after the crash, want 10", n)
		}
		rec := newRecorder(nil)
		newQueue(t, tdb, jobs.Options{}, map[string]jobs.KindConfig{
			"crash": {Handler: rec.handle, MaxBatch: 10},
		})
		waitFor(t, 10*time.Second, "the dead process's jobs", func() bool { return count(t, tdb, "1=1") == 0 })
		if rec.worked() != 30 {
			t.Fatalf("worked %d jobs, want 30", rec.worked())
		}
		for id, att := range rec.runs {
			want := 1
			if held[id] {
				want = 2
			}
			if len(att) != 1 || att[0] != want {
				t.Errorf("job %d: attempts %v, want [%d]", id, att, want)
			}
		}
	})
}

// TestCrashChild is the worker process killed by TestKilledWorkerProcess;
// it does nothing in a normal test run.
func TestCrashChild(t *testing.T) {
	dsn := os.Getenv(childDSNEnv)
	if dsn == "" {
		t.Skip("only run as a child of TestKilledWorkerProcess")
	}
	d := jobs.SQLite
	driver := "sqlite"
	if os.Getenv(childDialectEnv) == jobs.Postgres.String() {
		d, driver = jobs.Postgres, "pgx"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	q := jobs.New(db, d, jobs.Options{PollInterval: 20 * time.Millisecond, LeaseDuration: 500 * time.Millisecond})
	batches := 0
	q.Register("crash", jobs.KindConfig{MaxBatch: 10, Timeout: 100 * time.Millisecond,
		Handler: func(ctx context.Context, b []jobs.Job) []jobs.Outcome {
			batches++ // Workers: 1, so calls never overlap
			if batches == 1 {
				return make([]jobs.Outcome, len(b))
			}
			ids := make([]string, len(b))
			for i, j := range b {
				ids[i] = strconv.FormatInt(j.ID, 10)
			}
			fmt.Println("HOLD " + strings.Join(ids, " "))
			select {} // until killed
		}})
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {}
}
