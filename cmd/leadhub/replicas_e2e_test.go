package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadhub/leadhub/internal/testdb"
)

// Several stateless replicas on one PostgreSQL database: the real binary,
// started as processes. Replicas migrating together migrate once; the first
// requests of new user ids racing on both replicas give one lead per user id;
// a webhook endpoint receives every event while one replica is killed with
// SIGKILL midway.
func TestReplicasShareOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	testdb.Require(t, testdb.Postgres)
	dbURL := testdb.PostgresURL(t)
	env := []string{"LEADHUB_DATABASE_URL=" + dbURL, "LEADHUB_ADMIN_KEY=" + testAdminKey,
		"LEADHUB_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true"}

	migrateTogether(t, env, 3)
	a := startProcess(t, env...)
	b := startProcess(t, env...)
	ca, cb := a.client(), b.client()

	t.Run("first requests race on both replicas", func(t *testing.T) {
		ca.t, cb.t = t, t
		p := ca.newProject("race")
		const users, perUser = 30, 4
		type answer struct {
			status int
			lead   string
			err    error
		}
		answers := make([][]answer, users)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for u := range users {
			answers[u] = make([]answer, perUser)
			for k := range perUser {
				wg.Add(1)
				go func() {
					defer wg.Done()
					base := []string{a.URL, b.URL}[k%2]
					body := map[string]any{"user_id": fmt.Sprintf("new-visitor-%02d", u), "channel": "chat",
						"lead": map[string]any{"email": fmt.Sprintf("Visitor%02d@example.com", u)}}
					<-start
					status, res, err := replicaPost(base+p.requestPath, p.Ingest, body)
					answers[u][k] = answer{status: status, err: err}
					if lead, ok := res["lead"].(map[string]any); ok {
						answers[u][k].lead, _ = lead["id"].(string)
					}
				}()
			}
		}
		close(start)
		wg.Wait()
		for u, as := range answers {
			for k, an := range as {
				if an.err != nil || an.status != 201 || an.lead != as[0].lead {
					t.Fatalf("user %d, call %d: status %d, lead %q (first call: %q), %v", u, k, an.status, an.lead, as[0].lead, an.err)
				}
			}
			for _, c := range []*testServer{ca, cb} {
				found := items(c.must(200, "GET", p.leadsPath+"?user_id="+fmt.Sprintf("new-visitor-%02d", u), p.Agent, nil))
				if len(found) != 1 || found[0]["id"] != as[0].lead || found[0]["requests_count"] != float64(perUser) {
					t.Fatalf("user %d on %s: %v", u, c.URL, found)
				}
			}
		}
		all := items(cb.must(200, "GET", p.leadsPath+"?status=all&limit=500", p.Agent, nil))
		if len(all) != users {
			t.Fatalf("%d leads, want %d", len(all), users)
		}
	})

	t.Run("webhooks delivered while a replica is killed", func(t *testing.T) {
		ca.t, cb.t = t, t
		var mu sync.Mutex
		received := map[string]int{} // event id → deliveries
		var lastAt time.Time
		// A receiver a little slow to answer, so that the replica killed
		// midway is holding claimed deliveries when it dies.
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			received[r.Header.Get("webhook-id")]++
			lastAt = time.Now()
			mu.Unlock()
		}))
		defer recv.Close()

		p := cb.newProject("hooks")
		cb.must(201, "POST", p.path("/webhooks"), p.Admin, map[string]any{"url": recv.URL + "/hook", "events": []string{"*"}})

		var acked, sent atomic.Int64
		var aDead atomic.Bool
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					base := b.URL
					if (w+i)%2 == 0 && !aDead.Load() {
						base = a.URL
					}
					body := map[string]any{"user_id": fmt.Sprintf("hook-user-%d", (w*1000+i)%150), "channel": "chat",
						"lead": map[string]any{"company": fmt.Sprintf("Company %d", i%7)}}
					sent.Add(1)
					if status, _, err := replicaPost(base+p.requestPath, p.Ingest, body); err == nil && status == 201 {
						acked.Add(1)
					}
				}
			}()
		}
		replicaWait(t, 30*time.Second, func() bool { return acked.Load() >= 200 })
		a.kill()
		killed := time.Now()
		aDead.Store(true)
		killedAt := acked.Load()
		replicaWait(t, 30*time.Second, func() bool { return acked.Load() >= killedAt+200 })
		close(stop)
		wg.Wait()

		// Every event of the project, as committed (including any of A's
		// writes that committed without an answer reaching the client).
		want := replicaEventIDs(t, dbURL, p.ID)
		if int64(len(want)) < acked.Load() {
			t.Fatalf("%d events for %d acknowledged requests", len(want), acked.Load())
		}
		// Jobs A held when it died are claimed again once their lease
		// expires (a minute or more), so allow for that.
		missing := func() []string {
			mu.Lock()
			defer mu.Unlock()
			var out []string
			for _, id := range want {
				if received[id] == 0 {
					out = append(out, id)
				}
			}
			return out
		}
		deadline := time.Now().Add(3 * time.Minute)
		for len(missing()) > 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if m := missing(); len(m) > 0 {
			t.Fatalf("%d of %d events never delivered, e.g. %v; replica B logs:\n%s", len(m), len(want), m[:min(5, len(m))], logTail(b.Logs(), 40))
		}
		mu.Lock()
		dups := 0
		for _, n := range received {
			dups += n - 1
		}
		mu.Unlock()
		t.Logf("%d requests sent, %d acknowledged (%d before the kill); all %d events delivered, %d of them more than once; the last %v after the kill",
			sent.Load(), acked.Load(), killedAt, len(want), dups, lastAt.Sub(killed).Round(time.Millisecond))
	})
}

// migrateTogether runs `leadhub migrate` n times at once on an empty database
// and checks that all succeed and each migration is applied once in all.
func migrateTogether(t *testing.T, env []string, n int) {
	t.Helper()
	bin := leadhubBinary(t)
	outs := make([]bytes.Buffer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, "migrate")
			cmd.Env = append(os.Environ(), append([]string{"LEADHUB_LOG_FORMAT=json"}, env...)...)
			cmd.Stderr = &outs[i]
			errs[i] = cmd.Run()
		}()
	}
	wg.Wait()
	applied := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("migrate %d: %v\n%s", i, errs[i], outs[i].String())
		}
		for _, line := range strings.Split(outs[i].String(), "\n") {
			var rec struct{ Msg, Version string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "migration applied" {
				applied[rec.Version]++
			}
		}
	}
	files, err := filepath.Glob("../../migrations/postgres/*.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(files) {
		t.Fatalf("%d migrate processes applied %v; want each of %d migrations", n, applied, len(files))
	}
	for v, k := range applied {
		if k != 1 {
			t.Errorf("migration %s applied %d times", v, k)
		}
	}
}

// replicaPost posts body with a bearer key; the answer's JSON object, if any.
func replicaPost(url, key string, body any) (int, map[string]any, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	if b, err := io.ReadAll(res.Body); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return res.StatusCode, out, nil
}

func replicaWait(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replicaEventIDs reads the ids of every event of a project straight from
// the database.
func replicaEventIDs(t *testing.T, dbURL, projectID string) []string {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return testdb.Strings(t, db, "SELECT id FROM lead_events WHERE project_id = $1", projectID)
}

func logTail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(0, len(ls)-lines):], "\n")
}
