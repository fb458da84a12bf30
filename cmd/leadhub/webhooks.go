package main

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/leadhub/leadhub/config"
	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/inbound"
	"github.com/leadhub/leadhub/core/jobs"
	"github.com/leadhub/leadhub/core/metrics"
	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/core/webhooks"
)

// How long the hub keeps its logs.
const (
	// deliveryRetention: delivery attempts older than this leave the log.
	deliveryRetention = 30 * 24 * time.Hour
	// inboundRetention: channel delivery ids older than this are forgotten;
	// senders retry for minutes or hours, never for a week.
	inboundRetention = 7 * 24 * time.Hour
	pruneEvery       = time.Hour
)

// Delivery job kinds: batches of one endpoint at a time (a slow endpoint
// holds up only its own batches), many batches in flight.
const (
	deliverBatch   = 64
	deliverWorkers = 8
	resendBatch    = 16
)

// webhookHub is the wired webhook hub: the webhook service the API serves
// (with the SSRF guard), the delivery worker behind two job kinds, the
// inbound channels, and a loop pruning old logs.
type webhookHub struct {
	service *webhooks.Service
	inbound *inbound.Service
	store   *store.Store
	log     *slog.Logger
	stop    chan struct{}
	done    sync.WaitGroup
}

// newWebhookHub registers the delivery kinds on queue (before it starts)
// and the store's webhook fan-out on the dispatcher.
func newWebhookHub(cfg config.Config, s *store.Store, disp *dispatcher, queue *jobs.Queue, m *metrics.Metrics, log *slog.Logger) (*webhookHub, error) {
	guard, err := webhooks.NewGuard(cfg.Webhooks.AllowPrivateNetworks, cfg.Webhooks.AllowList)
	if err != nil {
		return nil, err
	}
	worker := webhooks.NewWorker(s, webhooks.WorkerOptions{
		Client:       webhooks.NewClient(guard),
		Timeout:      cfg.Webhooks.Timeout,
		Schedule:     cfg.Webhooks.RetrySchedule,
		DisableAfter: cfg.Webhooks.DisableAfter,
		Logger:       log,
		Observer:     m,
	})
	disp.fanouts = append(disp.fanouts, s.WebhookFanout())
	jobKind{name: core.JobWebhookDeliver, handler: worker.Deliver, maxBatch: deliverBatch, workers: deliverWorkers,
		timeout: worker.Timeout(deliverBatch, deliverWorkers), retry: worker.RetryDelay, maxAttempts: worker.MaxAttempts(),
		groupByTarget: true}.register(queue)
	jobKind{name: core.JobWebhookResend, handler: worker.Deliver, maxBatch: resendBatch, workers: 2,
		timeout: worker.Timeout(resendBatch, 2), retry: worker.RetryDelay, maxAttempts: 1}.register(queue)
	h := &webhookHub{
		service: webhooks.NewService(s, guard),
		inbound: inbound.New(s, inbound.Options{Logger: log, Observer: m}),
		store:   s,
		log:     log,
		stop:    make(chan struct{}),
	}
	h.done.Add(1)
	go h.pruneLoop()
	return h, nil
}

// EnqueueJobs lets the store queue jobs that no event fans out to (a test
// delivery, a manual retry) in its own transaction.
func (d *dispatcher) EnqueueJobs(ctx context.Context, tx *sql.Tx, js []core.Job) error {
	out := make([]jobs.NewJob, len(js))
	for i, j := range js {
		out[i] = jobs.NewJob{Kind: j.Kind, ProjectID: j.ProjectID, Target: j.Target, EventID: j.EventID}
	}
	return jobs.Enqueue(ctx, tx, d.dialect, out)
}

func (h *webhookHub) pruneLoop() {
	defer h.done.Done()
	wait := time.Minute
	for {
		t := time.NewTimer(wait)
		select {
		case <-h.stop:
			t.Stop()
			return
		case <-t.C:
		}
		wait = pruneEvery
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		now := time.Now()
		if n, err := h.store.PruneDeliveries(ctx, now.Add(-deliveryRetention)); err != nil {
			h.log.Warn("prune webhook deliveries", "err", err)
		} else if n > 0 {
			h.log.Info("pruned webhook deliveries", "rows", n)
		}
		if _, err := h.store.PruneInbound(ctx, now.Add(-inboundRetention)); err != nil {
			h.log.Warn("prune inbound delivery ids", "err", err)
		}
		cancel()
	}
}

func (h *webhookHub) close() {
	close(h.stop)
	h.done.Wait()
}

// wrap counts inbound deliveries refused for their size: the API answers
// 413 before the channel sees them.
func (h *webhookHub) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutPrefix(r.URL.Path, "/v1/inbound/")
		if !ok || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusRequestEntityTooLarge {
			h.inbound.TooLarge(r.Context(), id)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
