package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Writes that the server acknowledged survive kill -9 of the server process:
// clients keep posting while the process is killed; after a restart on the
// same database, every acknowledged request is there.
func TestAcknowledgedWritesSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "leadhub.db")
	env := []string{"LEADHUB_DATABASE_URL=" + db, "LEADHUB_ADMIN_KEY=" + testAdminKey}
	proc := startProcess(t, env...)
	c := proc.client()
	p := c.newProject("durable")

	var (
		mu    sync.Mutex
		acked []string
		sent  atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("req-%d-%d", w, i)
				body, _ := json.Marshal(map[string]any{"id": id, "user_id": fmt.Sprintf("user-%d", i%50), "lead": map[string]any{"fullname": "Person"}})
				req, _ := http.NewRequest("POST", proc.URL+p.requestPath, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+p.Ingest)
				sent.Add(1)
				res, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				res.Body.Close()
				if res.StatusCode == 201 {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	// Kill the server mid-stream, once a good number of writes are in.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 500 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	proc.kill()
	close(stop)
	wg.Wait()
	if len(acked) < 500 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}

	again := startProcess(t, env...).client()
	missing := 0
	for _, id := range acked {
		if r := again.do("GET", p.requestPath+"/"+id, p.Agent, nil); r.Status != 200 {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged request %s: %d after restart", id, r.Status)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost (%d sent)", missing, len(acked), sent.Load())
	}
	t.Logf("%d acknowledged writes of %d sent all survived", len(acked), sent.Load())
}
