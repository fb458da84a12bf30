package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/leadhub/leadhub/config"
	"github.com/leadhub/leadhub/core/jobs"
	"github.com/leadhub/leadhub/core/metrics"
	"github.com/leadhub/leadhub/core/pluginhost"
	"github.com/leadhub/leadhub/core/store"
)

// pluginSpecs lists the plugins to run: the configuration's plugins list,
// then every executable in plugins_dir (LEADHUB_PLUGINS_DIR) whose name the
// list does not already use.
func pluginSpecs(cfg config.Config) ([]pluginhost.Spec, error) {
	var specs []pluginhost.Spec
	named := map[string]bool{}
	for _, p := range cfg.Plugins {
		specs = append(specs, pluginhost.Spec{Name: p.Name, Path: p.Path, SHA256: p.SHA256, Timeout: p.Timeout, Config: p.Config})
		named[p.Name] = true
	}
	if cfg.PluginsDir != "" {
		found, err := pluginhost.SpecsFromDir(cfg.PluginsDir)
		if err != nil {
			return nil, err
		}
		for _, s := range found {
			if !named[s.Name] {
				specs = append(specs, s)
			}
		}
	}
	return specs, nil
}

// startPlugins starts the plugin host after the store, makes it a fan-out of
// the dispatcher and registers its job kinds on queue, which must not have
// started yet. Plugins that fail to start do not fail this: they show in
// GET /v1/plugins.
func startPlugins(ctx context.Context, cfg config.Config, s *store.Store, disp *dispatcher, queue *jobs.Queue, m *metrics.Metrics, log *slog.Logger) (*pluginhost.Host, error) {
	specs, err := pluginSpecs(cfg)
	if err != nil {
		return nil, err
	}
	host, err := pluginhost.New(pluginhost.Options{
		Plugins:    specs,
		Store:      s,
		Duplicates: s,
		Metrics:    m,
		Logger:     log,
		OnEnable:   func(name string) { resumePluginJobs(queue, name, log) },
		// Enricher jobs complete in the transaction of their patches.
		CompleteJobs: func(ctx context.Context, tx *sql.Tx, ids []int64) error {
			_, err := jobs.CompleteInTx(ctx, tx, ids)
			return err
		},
		JobsCommitted: jobs.CommittedInTx,
	})
	if err != nil {
		return nil, err
	}
	if err := host.Start(ctx); err != nil {
		stopPlugins(host, log)
		return nil, err
	}
	for _, k := range host.JobKinds() {
		jobKind{name: k.Name, handler: k.Handler, maxBatch: k.MaxBatch, linger: k.Linger, workers: k.Workers,
			timeout: k.Timeout, groupByTarget: k.GroupByTarget}.register(queue)
	}
	disp.fanouts = append(disp.fanouts, host)
	return host, nil
}

// stopPlugins stops the plugin processes; call it after the queue stopped.
func stopPlugins(host *pluginhost.Host, log *slog.Logger) {
	if host == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := host.Stop(ctx); err != nil {
		log.Warn("plugins stop", "error", err)
	}
}

// resumePluginJobs makes the waiting and discarded jobs of a plugin that an
// operator has just re-enabled due now, with a fresh attempt budget: what
// piled up while it was disabled (discarded jobs are kept 7 days) is worked
// at once.
func resumePluginJobs(queue *jobs.Queue, plugin string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	for _, kind := range []string{pluginhost.KindEnrich, pluginhost.KindDetect, pluginhost.KindSink} {
		kind += ":" + plugin
		for _, state := range []jobs.State{jobs.StateRetryable, jobs.StateDiscarded} {
			var after int64
			for {
				recs, err := queue.List(ctx, jobs.Filter{Kind: kind, State: state, Target: plugin, AfterID: after, Limit: 1000})
				if err != nil {
					log.Warn("resume plugin jobs", "plugin", plugin, "error", err)
					return
				}
				for _, r := range recs {
					err := queue.RetryNow(ctx, r.ID)
					if err != nil && !errors.Is(err, jobs.ErrNotFound) && !errors.Is(err, jobs.ErrNotRetryable) {
						log.Warn("resume plugin job", "plugin", plugin, "job", r.ID, "error", err)
						return
					}
					if err == nil {
						n++
					}
				}
				if len(recs) < 1000 {
					break
				}
				after = recs[len(recs)-1].ID
			}
		}
	}
	if n > 0 {
		log.Info("plugin re-enabled: its waiting jobs are due now", "plugin", plugin, "jobs", n)
	}
}

// jobsObserver reports the job queue's figures to the metrics package,
// which does not know the queue's types.
type jobsObserver struct{ m *metrics.Metrics }

var _ jobs.Observer = jobsObserver{}

func (o jobsObserver) JobsWorked(kind string, result jobs.Result, n int) {
	o.m.JobsWorked(kind, string(result), n)
}

func (o jobsObserver) BatchWorked(kind string, size int, d time.Duration) {
	o.m.JobBatch(kind, size, d)
}

func (o jobsObserver) QueueStats(kind string, s jobs.KindStats) {
	o.m.JobQueue(kind, s.Pending, s.Scheduled, s.Running, s.Discarded, s.OldestAge)
}
