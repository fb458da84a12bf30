package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadhub/leadhub/config"
	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/jobs"
	"github.com/leadhub/leadhub/core/metrics"
	"github.com/leadhub/leadhub/core/standardwebhooks"
)

// bodySink is a loopback receiver that answers 204 and keeps the first
// bodies and headers it gets, for the bare client to post again.
type bodySink struct {
	*httptest.Server
	n      atomic.Int64
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	keep   int
}

func newBodySink(keep int) *bodySink {
	k := &bodySink{keep: keep}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if k.n.Add(1) <= int64(k.keep) {
			k.mu.Lock()
			k.bodies = append(k.bodies, b)
			k.heads = append(k.heads, r.Header.Clone())
			k.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return k
}

// BenchmarkWebhookDelivery measures outbound delivery end to end on SQLite:
// b.N events are queued (the queue not yet running), then the queue starts
// and the clock runs until every attempt is logged in the delivery log.
// Each delivery is a signed POST of the event to a loopback receiver, one
// logged attempt and one completed job. In the same run a bare net/http
// client (MaxIdleConnsPerHost raised, 64 goroutines) posts the same bodies
// with the same headers to the same receiver.
//
//	go test -run '^$' -bench BenchmarkWebhookDelivery -benchtime 20000x ./cmd/leadhub
func BenchmarkWebhookDelivery(b *testing.B) {
	ctx := context.Background()
	sink := newBodySink(b.N)
	defer sink.Close()
	cfg := config.Default()
	cfg.DatabaseURL = "sqlite:" + filepath.Join(b.TempDir(), "bench.db")
	cfg.Webhooks.AllowPrivateNetworks = true
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New(prometheus.NewRegistry())
	disp := &dispatcher{dialect: jobs.SQLite}
	s, err := openStoreWithHook(ctx, cfg, m, disp, log)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	queue := jobs.New(s.DB(), jobs.SQLite, jobs.Options{ReadDB: s.ReadDB(), Logger: log})
	disp.queue = queue
	hub, err := newWebhookHub(cfg, s, disp, queue, m, log)
	if err != nil {
		b.Fatal(err)
	}
	defer hub.close()
	p, _, err := s.CreateProject(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := hub.service.CreateWebhook(ctx, p.ID, core.WebhookInput{URL: sink.URL + "/hook", Events: []string{core.EventRequestCreated}}); err != nil {
		b.Fatal(err)
	}
	// b.N requests: b.N request.created events, one delivery each.
	var wg sync.WaitGroup
	var next atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				_, err := s.IngestRequest(ctx, p.ID, core.Ingest{UserID: fmt.Sprintf("visitor-%d", i), Channel: "chat",
					FirstText: "Hello, is the Trekker 2 tent available in green?", Lead: core.LeadFields{Fullname: ptr("Andrea Sp"),
						Email: ptr(fmt.Sprintf("andrea%d@example.com", i))}, LeadAttributes: map[string]any{"plan": "pro", "source": "widget"}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	count := func() int {
		var n int
		if err := s.ReadDB().QueryRow("SELECT count(*) FROM webhook_deliveries").Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	if path := os.Getenv("LEADHUB_BENCH_CPUPROFILE"); path != "" {
		// The delivery phase alone, for tuning.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	b.ResetTimer()
	start := time.Now()
	if err := queue.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for count() < b.N {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_ = queue.Stop(stopCtx)
	cancel()
	var failed int
	_ = s.ReadDB().QueryRow("SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'").Scan(&failed)
	if failed > 0 || sink.n.Load() < int64(b.N) {
		b.Fatalf("%d failed attempts, %d received of %d", failed, sink.n.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")

	// The same bodies from a bare client, in this run.
	sink.mu.Lock()
	bodies, heads := sink.bodies, sink.heads
	sink.mu.Unlock()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}}
	var i atomic.Int64
	start = time.Now()
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := i.Add(1) - 1; k < int64(len(bodies)); k = i.Add(1) - 1 {
				req, _ := http.NewRequest("POST", sink.URL+"/hook", bytes.NewReader(bodies[k]))
				req.Header = heads[k]
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(len(bodies))/time.Since(start).Seconds(), "bare-posts/s")
}

// BenchmarkInboundSigned measures inbound channel deliveries over HTTP on
// loopback: signed deliveries from 32 concurrent senders to a server wired
// as `leadhub serve` on SQLite, each verified, read, applied and recorded
// with its delivery id before its 200. Sub-benchmarks: generic
// request.created (a new lead and a new request each) and Chatwoot
// message_created (a message on one of 100 conversations).
//
//	go test -run '^$' -bench BenchmarkInboundSigned -benchtime 20000x ./cmd/leadhub
func BenchmarkInboundSigned(b *testing.B) {
	b.Run("generic", func(b *testing.B) {
		benchInbound(b, "generic", func(secret string, i int) (map[string]string, []byte) {
			body := []byte(fmt.Sprintf(`{"type":"request.created","data":{"id":"req-%d","user_id":"visitor-%d","channel":"web","first_text":"Hello, is the Trekker 2 available in green?","lead":{"fullname":"Andrea Sp","email":"andrea%d@example.com","attributes":{"plan":"pro"}}}}`, i, i, i))
			key, _ := standardwebhooks.ParseSecret(secret)
			id := "msg_" + strconv.Itoa(i)
			now := time.Now().Unix()
			return map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(now, 10),
				"webhook-signature": standardwebhooks.Sign(key, id, now, body), "Content-Type": "application/json"}, body
		})
	})
	// The REST API's POST /requests with the same request as "generic", in
	// the same run: the ceiling inbound deliveries are measured against.
	b.Run("rest", func(b *testing.B) {
		benchInbound(b, "rest", func(key string, i int) (map[string]string, []byte) {
			body := []byte(fmt.Sprintf(`{"id":"req-%d","user_id":"visitor-%d","channel":"web","first_text":"Hello, is the Trekker 2 available in green?","lead":{"fullname":"Andrea Sp","email":"andrea%d@example.com","attributes":{"plan":"pro"}}}`, i, i, i))
			return map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}, body
		})
	})
	b.Run("chatwoot", func(b *testing.B) {
		benchInbound(b, "chatwoot", func(secret string, i int) (map[string]string, []byte) {
			conv, contact := i%100, 1000+i%100
			body := []byte(fmt.Sprintf(`{"event":"message_created","id":%d,"content":"Any news on my order?","message_type":"incoming","private":false,"sender":{"id":%d,"name":"Andrea Sp","email":"andrea%d@example.com","identifier":null},"conversation":{"id":%d,"inbox_id":12,"status":"open","channel":"Channel::WebWidget","contact_inbox":{"contact_id":%d,"source_id":"src-%d"},"meta":{"sender":{"id":%d,"type":"contact"}},"messages":[]},"account":{"id":7}}`, i, contact, contact, conv, contact, contact, contact))
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(ts + "."))
			mac.Write(body)
			return map[string]string{"X-Chatwoot-Delivery": fmt.Sprintf("del-%d", i), "X-Chatwoot-Timestamp": ts,
				"X-Chatwoot-Signature": "sha256=" + hex.EncodeToString(mac.Sum(nil)), "Content-Type": "application/json"}, body
		})
	})
}

func benchInbound(b *testing.B, kind string, make func(secret string, i int) (map[string]string, []byte)) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DatabaseURL = "sqlite:" + filepath.Join(b.TempDir(), "bench.db")
	cfg.AdminKey = testAdminKey
	srv, err := newServer(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.handler)
	defer func() {
		hs.Close()
		srv.close()
	}()
	p, _, err := srv.store.CreateProject(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	target, secret := "", ""
	if kind == "rest" {
		p2, key, err := srv.store.CreateProject(ctx, "rest")
		if err != nil {
			b.Fatal(err)
		}
		target, secret = hs.URL+"/v1/projects/"+p2.ID+"/requests", key.Secret
	} else {
		in := core.ChannelInput{Kind: kind, Name: kind}
		if kind == core.ChannelChatwoot {
			in.Secret = "cW7nQ2rTk9VbX4mLp8ZsDf3H"
		}
		ch, err := srv.store.CreateChannel(ctx, p.ID, in)
		if err != nil {
			b.Fatal(err)
		}
		target, secret = hs.URL+"/v1/inbound/"+ch.ID, ch.Secret
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	var next atomic.Int64
	var accepted atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				h, body := make(secret, int(i))
				req, _ := http.NewRequest("POST", target, bytes.NewReader(body))
				for k, v := range h {
					req.Header.Set(k, v)
				}
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				out, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if (res.StatusCode != 200 || !bytes.Contains(out, []byte(`"accepted":true`))) && res.StatusCode != 201 {
					b.Errorf("%d %s", res.StatusCode, out)
					return
				}
				accepted.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(accepted.Load())/elapsed.Seconds(), "accepted/s")
}
