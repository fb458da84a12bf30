package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/standardwebhooks"
)

// Store is what the worker needs of the store.
type Store interface {
	// EventsByID loads events by id; missing ones are left out.
	EventsByID(ctx context.Context, ids []string) ([]core.Event, error)
	// WebhookTargets loads endpoints with their signing secrets.
	WebhookTargets(ctx context.Context, ids []string) ([]core.WebhookTarget, error)
	// RecordDeliveries logs attempts, resets or runs failure clocks and
	// disables endpoints; it returns the reasons of those it disabled.
	RecordDeliveries(ctx context.Context, rs []core.DeliveryResult, disableAfter time.Duration) ([]string, error)
}

// Observer receives delivery figures; *metrics.Metrics implements it. Label
// values are from small fixed sets.
type Observer interface {
	// WebhookDelivered counts one attempt: outcome is succeeded, failed (a
	// non-2xx answer), gone (410), error (no answer: refused, timed out),
	// blocked (a private address) or skipped (the endpoint is disabled);
	// statusClass is 2xx, 3xx, 4xx, 5xx or none.
	WebhookDelivered(outcome, statusClass string, d time.Duration)
	// WebhookEndpointDisabled counts an endpoint disabled: reason is gone or
	// failing.
	WebhookEndpointDisabled(reason string)
}

type nopObserver struct{}

func (nopObserver) WebhookDelivered(string, string, time.Duration) {}
func (nopObserver) WebhookEndpointDisabled(string)                 {}

// Outcomes reported to the Observer.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeGone      = "gone"
	OutcomeError     = "error"
	OutcomeBlocked   = "blocked"
	OutcomeSkipped   = "skipped"
)

// WorkerOptions configure a Worker. Zero values take the defaults given.
type WorkerOptions struct {
	// Client sends the requests (NewClient with a guard).
	Client *http.Client
	// Timeout bounds one attempt (default 15s).
	Timeout time.Duration
	// Schedule is the delay before each retry: Schedule[0] after the first
	// failure, and so on; an event gets len(Schedule)+1 attempts.
	Schedule []time.Duration
	// DisableAfter disables an endpoint failing without a success this long
	// (zero: never).
	DisableAfter time.Duration
	// Concurrency bounds the requests of one batch in flight (default 64).
	Concurrency int
	// PerEndpoint bounds the requests in flight to one endpoint, across
	// batches (default MaxConnsPerHost). An attempt's timeout starts once it
	// has its place, so waiting behind a slow endpoint's other requests does
	// not count against it.
	PerEndpoint int
	Clock       func() time.Time
	Logger      *slog.Logger
	Observer    Observer
	// UserAgent of the requests (default "Leadhub-Webhooks/1").
	UserAgent string
}

// Worker delivers queued events to endpoints.
type Worker struct {
	store Store
	opts  WorkerOptions
	log   *slog.Logger
	obs   Observer

	mu    sync.Mutex
	slots map[string]chan struct{} // per endpoint, PerEndpoint places
}

// slot is the semaphore of an endpoint. Endpoints are few; their semaphores
// are kept for the life of the worker.
func (w *Worker) slot(id string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.slots[id]
	if c == nil {
		c = make(chan struct{}, w.opts.PerEndpoint)
		w.slots[id] = c
	}
	return c
}

// Bounds on what is read of an answer.
const (
	keepResponseBytes  = 4096     // kept in the delivery log
	drainResponseBytes = 64 << 10 // read and dropped so the connection can be reused
)

// NewWorker builds a worker.
func NewWorker(store Store, opts WorkerOptions) *Worker {
	if opts.Client == nil {
		g, _ := NewGuard(false, nil)
		opts.Client = NewClient(g)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 64
	}
	if opts.PerEndpoint <= 0 {
		opts.PerEndpoint = MaxConnsPerHost
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "Leadhub-Webhooks/1"
	}
	return &Worker{store: store, opts: opts, log: opts.Logger.With("component", "webhooks"), obs: opts.Observer,
		slots: map[string]chan struct{}{}}
}

// MaxAttempts is how many times an event is sent to an endpoint at most.
func (w *Worker) MaxAttempts() int { return len(w.opts.Schedule) + 1 }

// RetryDelay is the schedule's delay after a failed attempt (1-based), for
// the queue; the worker itself sets the time of each retry.
func (w *Worker) RetryDelay(attempt int) time.Duration {
	if len(w.opts.Schedule) == 0 {
		return time.Minute
	}
	return w.opts.Schedule[min(max(attempt, 1), len(w.opts.Schedule))-1]
}

// Timeout is the longest one batch can take when batches (at most workers
// of them at once) all go to one slow endpoint: they share its PerEndpoint
// places, each attempt taking up to the per-attempt timeout.
func (w *Worker) Timeout(maxBatch, workers int) time.Duration {
	inFlight := max(min(w.opts.Concurrency, w.opts.PerEndpoint), 1)
	rounds := (max(maxBatch, 1)*max(workers, 1) + inFlight - 1) / inFlight
	return time.Duration(rounds)*w.opts.Timeout + 30*time.Second
}

// Envelope is the body of a delivery: the event as the API names it, with
// its data (the lead, the request) and for updates the changes. The stored
// data is copied as it is, not decoded and encoded again.
func Envelope(ev core.Event) ([]byte, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	if data[0] != '{' || !json.Valid(data) {
		return nil, fmt.Errorf("event %s: data is not a JSON object", ev.ID)
	}
	str := func(b []byte, v string) []byte {
		q, _ := json.Marshal(v)
		return append(b, q...)
	}
	b := make([]byte, 0, len(data)+256)
	b = str(append(b, `{"id":`...), ev.ID)
	b = str(append(b, `,"type":`...), ev.Type)
	b = str(append(b, `,"created_at":`...), ev.CreatedAt.UTC().Format(time.RFC3339Nano))
	b = str(append(b, `,"project_id":`...), ev.ProjectID)
	b = append(b, `,"data":`...)
	if len(ev.Changes) == 0 {
		b = append(b, data...)
	} else {
		ch, err := json.Marshal(ev.Changes)
		if err != nil {
			return nil, fmt.Errorf("event %s changes: %w", ev.ID, err)
		}
		inner := bytes.TrimSpace(data[1 : len(data)-1])
		b = append(b, '{')
		if len(inner) > 0 {
			b = append(append(b, inner...), ',')
		}
		b = append(append(append(b, `"changes":`...), ch...), '}')
	}
	return append(b, '}'), nil
}

// attempt is what one request came to.
type attempt struct {
	status     int
	body       string
	duration   time.Duration
	err        error
	retryAfter time.Duration
}

// Deliver is the handler of the webhook job kinds: it sends a batch of
// events to their endpoints in parallel, logs every attempt in one write and
// tells the queue what to do with each job.
func (w *Worker) Deliver(ctx context.Context, batch []core.Job) []core.JobResult {
	out := make([]core.JobResult, len(batch))
	fail := func(err error) []core.JobResult {
		for i := range out {
			out[i] = core.JobResult{Err: err}
		}
		return out
	}
	eventIDs, hookIDs := uniq(batch, func(j core.Job) string { return j.EventID }), uniq(batch, func(j core.Job) string { return j.Target })
	evs, err := w.store.EventsByID(ctx, eventIDs)
	if err != nil {
		return fail(fmt.Errorf("load events: %w", err))
	}
	targets, err := w.store.WebhookTargets(ctx, hookIDs)
	if err != nil {
		return fail(fmt.Errorf("load webhooks: %w", err))
	}
	events := make(map[string]*core.Event, len(evs))
	for i := range evs {
		events[evs[i].ID] = &evs[i]
	}
	hooks := make(map[string]*core.WebhookTarget, len(targets))
	keys := make(map[string][][]byte, len(targets))
	for i := range targets {
		t := &targets[i]
		hooks[t.ID] = t
		for _, s := range t.Secrets {
			k, err := standardwebhooks.ParseSecret(s)
			if err != nil {
				w.log.Error("webhook secret unreadable", "webhook_id", t.ID)
				continue
			}
			keys[t.ID] = append(keys[t.ID], k)
		}
	}
	bodies := map[string][]byte{}

	type send struct {
		i      int
		target *core.WebhookTarget
		ev     *core.Event
		body   []byte
		res    attempt
	}
	var sends []*send
	results := make([]core.DeliveryResult, 0, len(batch))
	resultOf := make([]int, len(batch)) // index into results, -1 when nothing is logged
	for i, j := range batch {
		resultOf[i] = -1
		t, ev := hooks[j.Target], events[j.EventID]
		switch {
		case t == nil:
			out[i] = core.JobResult{Err: errors.New("webhook deleted"), Discard: true}
			continue
		case ev == nil || ev.ProjectID != t.ProjectID:
			w.log.Warn("webhook event missing", "event_id", j.EventID, "webhook_id", j.Target)
			out[i] = core.JobResult{Err: errors.New("event not found"), Discard: true}
			continue
		case len(keys[t.ID]) == 0:
			out[i] = core.JobResult{Err: errors.New("webhook has no usable secret"), Discard: true}
			continue
		}
		body, ok := bodies[ev.ID]
		if !ok {
			body, err = Envelope(*ev)
			if err != nil {
				w.log.Error("webhook envelope", "event_id", ev.ID, "err", err)
				out[i] = core.JobResult{Err: err, Discard: true}
				continue
			}
			bodies[ev.ID] = body
		}
		if !t.Enabled && j.Kind == core.JobWebhookDeliver {
			// Queued before the endpoint was disabled: logged, not sent.
			resultOf[i] = len(results)
			results = append(results, core.DeliveryResult{Delivery: core.Delivery{WebhookID: t.ID, EventID: ev.ID, EventType: ev.Type,
				Attempt: j.Attempt, Status: core.DeliveryFailed, Error: "not sent: the endpoint is disabled",
				Trigger: core.TriggerScheduled, CreatedAt: w.opts.Clock()}})
			out[i] = core.JobResult{Err: errors.New("endpoint disabled"), Discard: true}
			w.obs.WebhookDelivered(OutcomeSkipped, "none", 0)
			continue
		}
		sends = append(sends, &send{i: i, target: t, ev: ev, body: body})
	}

	sem := make(chan struct{}, w.opts.Concurrency)
	var wg sync.WaitGroup
	for _, s := range sends {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			place := w.slot(s.target.ID)
			select {
			case place <- struct{}{}:
			case <-ctx.Done():
				s.res = attempt{err: errors.New("not sent: the endpoint's other requests took the batch's time")}
				return
			}
			defer func() { <-place }()
			s.res = w.post(ctx, s.target.URL, s.ev.ID, s.body, keys[s.target.ID])
		}()
	}
	wg.Wait()

	now := w.opts.Clock()
	for _, s := range sends {
		j := batch[s.i]
		trigger := core.TriggerScheduled
		if j.Kind == core.JobWebhookResend {
			trigger = core.TriggerManual
			if s.ev.Type == core.EventWebhookTest {
				trigger = core.TriggerTest
			}
		}
		r := core.DeliveryResult{Delivery: core.Delivery{WebhookID: s.target.ID, EventID: s.ev.ID, EventType: s.ev.Type,
			Attempt: j.Attempt, ResponseStatus: s.res.status, ResponseBody: s.res.body,
			DurationMS: s.res.duration.Milliseconds(), Trigger: trigger, CreatedAt: now.Add(-s.res.duration)}}
		outcome, class := OutcomeSucceeded, statusClass(s.res.status)
		switch {
		case s.res.err == nil && s.res.status >= 200 && s.res.status < 300:
			r.Status = core.DeliverySucceeded
			out[s.i] = core.JobResult{}
		default:
			r.Status = core.DeliveryFailed
			var jerr error
			switch {
			case s.res.err != nil:
				outcome, r.Error = OutcomeError, s.res.err.Error()
				if errors.Is(s.res.err, ErrBlocked) {
					outcome = OutcomeBlocked
				}
				jerr = s.res.err
			case s.res.status == http.StatusGone:
				outcome, r.Error, r.Disable = OutcomeGone, "410 Gone: the endpoint asked to stop", "the endpoint answered 410 Gone"
				jerr = errors.New("410 Gone")
			default:
				outcome, r.Error = OutcomeFailed, fmt.Sprintf("answered %d", s.res.status)
				if s.res.status >= 300 && s.res.status < 400 {
					r.Error += " (redirects are not followed)"
				}
				jerr = errors.New(r.Error)
			}
			res := core.JobResult{Err: jerr, Discard: true}
			if r.Disable == "" && trigger == core.TriggerScheduled && j.Attempt <= len(w.opts.Schedule) {
				at := now.Add(w.nextDelay(j.Attempt, s.res.retryAfter))
				res = core.JobResult{Err: jerr, RetryAt: at}
				r.NextAttemptAt = &at
			}
			out[s.i] = res
		}
		w.obs.WebhookDelivered(outcome, class, s.res.duration)
		results = append(results, r)
	}

	if len(results) > 0 {
		disabled, err := w.store.RecordDeliveries(ctx, results, w.opts.DisableAfter)
		if err != nil {
			// Retried once: the attempts were made, their log is wanted.
			disabled, err = w.store.RecordDeliveries(context.WithoutCancel(ctx), results, w.opts.DisableAfter)
		}
		if err != nil {
			w.log.Error("log webhook deliveries", "deliveries", len(results), "err", err)
		}
		for _, reason := range disabled {
			kind := "failing"
			if reason == "the endpoint answered 410 Gone" {
				kind = "gone"
			}
			w.obs.WebhookEndpointDisabled(kind)
			w.log.Warn("webhook endpoint disabled", "reason", reason)
		}
	}
	return out
}

// nextDelay is the schedule's delay after attempt with ±20% jitter; a
// Retry-After asking for longer is honoured up to the schedule's longest
// step.
func (w *Worker) nextDelay(attempt int, retryAfter time.Duration) time.Duration {
	d := w.opts.Schedule[attempt-1]
	d += time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	if retryAfter > d {
		longest := time.Duration(0)
		for _, s := range w.opts.Schedule {
			longest = max(longest, s)
		}
		d = min(retryAfter, longest)
	}
	return d
}

// post sends one signed request.
func (w *Worker) post(ctx context.Context, target, msgID string, body []byte, keys [][]byte) attempt {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return attempt{err: errors.New("bad URL")}
	}
	now := w.opts.Clock()
	ts := now.Unix()
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["User-Agent"] = []string{w.opts.UserAgent}
	h[standardwebhooks.HeaderID] = []string{msgID}
	h[standardwebhooks.HeaderTimestamp] = []string{strconv.FormatInt(ts, 10)}
	h[standardwebhooks.HeaderSignature] = []string{standardwebhooks.SignatureHeader(keys, msgID, ts, body)}
	start := time.Now()
	res, err := w.opts.Client.Do(req)
	if err != nil {
		return attempt{err: cleanError(err, ctx), duration: time.Since(start)}
	}
	defer res.Body.Close()
	kept, _ := io.ReadAll(io.LimitReader(res.Body, keepResponseBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, drainResponseBytes))
	return attempt{status: res.StatusCode, body: string(kept), duration: time.Since(start),
		retryAfter: parseRetryAfter(res.Header.Get("Retry-After"), now)}
}

// cleanError drops the URL from a client error (it may carry a token) and
// names timeouts plainly.
func cleanError(err error, ctx context.Context) error {
	if ctx.Err() == context.DeadlineExceeded {
		return errors.New("timed out")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// parseRetryAfter reads seconds or an HTTP date; zero when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 1<<31)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func statusClass(status int) string {
	switch {
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 300 && status < 400:
		return "3xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	}
	return "none"
}

func uniq(batch []core.Job, key func(core.Job) string) []string {
	seen := make(map[string]bool, len(batch))
	var out []string
	for _, j := range batch {
		k := key(j)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
