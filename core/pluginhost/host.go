// Package pluginhost runs Leadhub's plugins: separate processes started from
// the configuration and spoken to over gRPC through hashicorp/go-plugin (the
// only package besides the SDK that imports it).
//
// The host starts each plugin with automatic mutual TLS, negotiates the
// protocol version, verifies the optional SHA-256 checksum of its binary, and
// keeps it running: a plugin whose process exits, or that stops answering its
// health check, is killed and started again after a backoff; one that
// crashes MaxCrashes times within CrashWindow is disabled until an operator
// enables it again. Plugin processes die with the host (a parent-death signal
// on Linux, and the SDK's own watchdog elsewhere). Every call has a deadline
// and is counted.
//
// Work reaches plugins only through durable jobs. The host is a core.Fanout:
// inside the transaction that writes an event it names one job per plugin
// kind that wants the event (never for events the plugin itself caused), and
// it provides the handlers for those jobs (JobKinds): each plugin kind is a
// job kind of its own ("plugin.enrich:emailnorm"), so that every plugin has its
// own workers and a slow or dead plugin holds up nobody else. Ingest only
// enqueues, so no plugin can slow it down.
//
// The host serves sdk.HostAPI to each plugin over a small Lookup interface
// (satisfied by *store.Store), answering only about the projects of the
// events the plugin is handling at that moment.
package pluginhost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/leadhub/leadhub/core"
)

// Spec is one plugin to run.
type Spec struct {
	// Name identifies the plugin: in job targets, metrics, the API and
	// events' actors (core.PluginActor). Names come from the configuration,
	// so metric labels stay bounded.
	Name string
	// Path is the plugin's executable.
	Path string
	// SHA256 is the hex checksum the executable must have; empty skips the
	// check. A mismatch disables the plugin.
	SHA256 string
	// Timeout bounds every call to the plugin (default DefaultTimeout).
	Timeout time.Duration
	// Config is handed to the plugin's Configure as JSON (nil: none).
	Config map[string]any
}

// DefaultTimeout is the per-call timeout of a plugin that sets none.
const DefaultTimeout = 2 * time.Second

// Lookup is what the host API reads. *store.Store implements it. Every
// method is scoped by project; lookups list active leads first.
type Lookup interface {
	// Lead returns a lead of the project in any status. ENOTFOUND.
	Lead(ctx context.Context, projectID, id string) (*core.Lead, error)
	LeadsByID(ctx context.Context, projectID string, ids []string) ([]core.Lead, error)
	LeadsByEmail(ctx context.Context, projectID, email string) ([]core.Lead, error)
	LeadsByCanonicalEmail(ctx context.Context, projectID, email string) ([]core.Lead, error)
	LeadsByPhone(ctx context.Context, projectID, phone string) ([]core.Lead, error)
	// LeadByUserID returns the lead holding a user id. ENOTFOUND.
	LeadByUserID(ctx context.Context, projectID, userID string) (*core.Lead, error)
}

// Store is what the job handlers use besides the lookups. *store.Store
// implements it.
type Store interface {
	Lookup
	// EventsByID loads events by id; missing ids are left out.
	EventsByID(ctx context.Context, ids []string) ([]core.Event, error)
	// UpdateLead applies an enricher's patch (core.LeadService).
	UpdateLead(ctx context.Context, projectID, id string, p core.LeadPatch, actor string) (*core.Lead, error)
}

// PatchApplier is a Store that applies many enricher patches in one write
// (store.Store does): the patches of a batch then cost one operation of the
// store's write path instead of one each. Errors are per patch (errs) or of
// the write as a whole (err: nothing was written). within, when set, runs
// last in the same transaction.
type PatchApplier interface {
	ApplyLeadPatches(ctx context.Context, projectIDs, leadIDs []string, patches []core.LeadPatch, actor string,
		within func(ctx context.Context, tx *sql.Tx) error) (errs []error, err error)
}

// Suggester records a detector's findings (core.DuplicateService).
type Suggester interface {
	SuggestDuplicate(ctx context.Context, projectID string, s core.Suggestion) (*core.Duplicate, bool, error)
}

// Metrics receives the host's figures; *metrics.Metrics implements it. The
// methods must not block.
type Metrics interface {
	// PluginCall reports one call: method is describe, configure, enrich,
	// detect, deliver or ping; outcome one of the Outcome constants.
	PluginCall(plugin, method, outcome string, d time.Duration)
	PluginRestarted(plugin string)
	PluginUp(plugin string, up bool)
}

// Options configure a Host. Zero durations and counts take the defaults
// given.
type Options struct {
	Plugins []Spec
	// Store serves the host API and the job handlers.
	Store Store
	// Duplicates records detectors' candidates; without it, detector jobs
	// fail and are retried.
	Duplicates Suggester
	Metrics    Metrics
	Logger     *slog.Logger

	// StartTimeout bounds a plugin's start: process, handshake, Describe and
	// Configure (default 10s).
	StartTimeout time.Duration
	// HealthInterval is how often a running plugin is pinged (default 10s);
	// a ping has the plugin's call timeout, and two failed pings in a row
	// count as a crash.
	HealthInterval time.Duration
	// RestartBackoff is the wait before the first restart after a crash; it
	// doubles with every crash in the window, up to MaxBackoff (defaults
	// 1s and 1m).
	RestartBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxCrashes crashes within CrashWindow disable a plugin (defaults 3 and
	// 10m). A failed start counts as a crash.
	MaxCrashes  int
	CrashWindow time.Duration
	// KillTimeout bounds stopping a process gracefully before it is killed
	// (default 5s).
	KillTimeout time.Duration
	// DisabledRetry is when the jobs of a disabled plugin are tried again
	// (default 10m). Re-enabling a plugin makes them due at once (OnEnable).
	DisabledRetry time.Duration
	// Concurrency bounds the calls in flight to one plugin (default
	// DefaultConcurrency).
	Concurrency int
	// CompleteJobs, when set, marks jobs of the batch being worked under ctx
	// done in tx (jobs.CompleteInTx): enricher jobs are then completed in
	// the transaction that writes their patches. JobsCommitted tells the
	// queue, once that transaction has committed, that they need no other
	// write (jobs.CommittedInTx). Both or neither.
	CompleteJobs  func(ctx context.Context, tx *sql.Tx, ids []int64) error
	JobsCommitted func(ctx context.Context, ids []int64)
	// OnEnable is called, from a goroutine of the host, after an operator's
	// EnablePlugin got the plugin running again: the place to make its
	// waiting and discarded jobs due now.
	OnEnable func(plugin string)
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = nopMetrics{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.StartTimeout, 10*time.Second)
	def(&o.HealthInterval, 10*time.Second)
	def(&o.RestartBackoff, time.Second)
	def(&o.MaxBackoff, time.Minute)
	def(&o.CrashWindow, 10*time.Minute)
	def(&o.KillTimeout, 5*time.Second)
	def(&o.DisabledRetry, 10*time.Minute)
	if o.MaxCrashes <= 0 {
		o.MaxCrashes = 3
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
}

// DefaultConcurrency is how many calls may be in flight to one plugin. An
// enricher's throughput is about the calls in flight over the time of one
// call, and under load a call spends most of its time waiting (for the
// plugin's turn on a core, for gRPC), not working: in the bench's
// enrichment run the server and the plugin used under a core between them
// with 8 in flight. 16 enriched 3–17% more leads per second than 8 in
// three alternating runs (make bench's plugins section), at a higher mean
// call time (3.2–4.1 ms against 2.3–2.4 ms).
const DefaultConcurrency = 16

// Host runs the configured plugins. It implements core.PluginRegistry and
// core.Fanout.
type Host struct {
	opts    Options
	log     *slog.Logger
	plugins []*plugin
	byName  map[string]*plugin

	mu      sync.Mutex
	started bool
	stopped bool
	stop    chan struct{} // closed by Stop
	wg      sync.WaitGroup
}

var (
	_ core.PluginRegistry = (*Host)(nil)
	_ core.Fanout         = (*Host)(nil)
)

// New checks the specs and returns a Host; Start runs the plugins.
func New(opts Options) (*Host, error) {
	opts.defaults()
	h := &Host{opts: opts, log: opts.Logger.With("component", "pluginhost"), byName: map[string]*plugin{}, stop: make(chan struct{})}
	var errs []error
	for _, s := range opts.Plugins {
		switch {
		case s.Name == "" || s.Path == "":
			errs = append(errs, fmt.Errorf("plugin %q: name and path are required", s.Name))
			continue
		case h.byName[s.Name] != nil:
			errs = append(errs, fmt.Errorf("plugin %q: configured twice", s.Name))
			continue
		}
		if s.Timeout <= 0 {
			s.Timeout = DefaultTimeout
		}
		p := newPlugin(h, s)
		h.plugins = append(h.plugins, p)
		h.byName[s.Name] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return h, nil
}

// Start starts every plugin and waits until each has either started or
// failed its first start (then it is restarted in the background, or
// disabled), or ctx ends. A plugin that fails never fails Start: it shows in
// Plugins with its state and last error.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	if h.started {
		h.mu.Unlock()
		return errors.New("plugin host: already started")
	}
	h.started = true
	h.mu.Unlock()
	firsts := make([]chan struct{}, len(h.plugins))
	for i, p := range h.plugins {
		h.opts.Metrics.PluginUp(p.spec.Name, false)
		firsts[i] = make(chan struct{})
		h.wg.Add(1)
		go p.run(firsts[i])
	}
	for _, c := range firsts {
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Stop stops every plugin process (gracefully, then by force after
// KillTimeout) and waits for them, at most until ctx ends. Stop the job
// queue first: calls in flight fail once their plugin is gone.
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return nil
	}
	h.stopped = true
	close(h.stop)
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop plugins: %w", ctx.Err())
	}
}

// Plugins implements core.PluginRegistry: every configured plugin, in
// configuration order.
func (h *Host) Plugins(context.Context) []core.PluginInfo {
	out := make([]core.PluginInfo, 0, len(h.plugins))
	for _, p := range h.plugins {
		out = append(out, p.info())
	}
	return out
}

// EnablePlugin implements core.PluginRegistry: a disabled plugin gets a
// clean crash record and is started again; EnablePlugin waits for that
// start (at most StartTimeout or until ctx ends) so that Plugins shows its
// outcome. Enabling a plugin that is not disabled changes nothing.
// ENOTFOUND for an unknown name.
func (h *Host) EnablePlugin(ctx context.Context, name string) error {
	p := h.byName[name]
	if p == nil {
		return core.NotFound("plugin")
	}
	h.mu.Lock()
	stopped := h.stopped
	h.mu.Unlock()
	if stopped {
		return core.Errorf(core.ECONFLICT, "the plugin host is stopping")
	}
	return p.enable(ctx)
}

// PID returns the process id of a running plugin, or 0. For diagnostics and
// tests.
func (h *Host) PID(name string) int {
	if p := h.byName[name]; p != nil {
		return p.pid()
	}
	return 0
}

// Names lists the configured plugins' names.
func (h *Host) Names() []string {
	out := make([]string, len(h.plugins))
	for i, p := range h.plugins {
		out[i] = p.spec.Name
	}
	return out
}

type nopMetrics struct{}

func (nopMetrics) PluginCall(string, string, string, time.Duration) {}
func (nopMetrics) PluginRestarted(string)                           {}
func (nopMetrics) PluginUp(string, bool)                            {}
