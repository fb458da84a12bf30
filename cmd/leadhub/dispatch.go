package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/jobs"
)

// dispatcher is the store's event hook: inside the transaction that writes
// events, it asks each fan-out (plugins, webhooks) which jobs follow them and
// enqueues those jobs in that same transaction, so that a committed change
// always has its follow-up work and a rolled-back one never does.
type dispatcher struct {
	dialect jobs.Dialect
	fanouts []core.Fanout
	queue   *jobs.Queue
}

func (d *dispatcher) OnEvents(ctx context.Context, tx *sql.Tx, evs []core.Event) error {
	_, err := d.OnEventsKinds(ctx, tx, evs)
	return err
}

// OnEventsKinds enqueues the jobs that follow evs and reports their kinds,
// so that the store wakes only those kinds' workers after the commit.
func (d *dispatcher) OnEventsKinds(ctx context.Context, tx *sql.Tx, evs []core.Event) ([]string, error) {
	var out []jobs.NewJob
	var kinds []string
	add := func(js []core.Job) {
		for _, j := range js {
			out = append(out, jobs.NewJob{Kind: j.Kind, ProjectID: j.ProjectID, Target: j.Target, EventID: j.EventID})
			if !slices.Contains(kinds, j.Kind) {
				kinds = append(kinds, j.Kind)
			}
		}
	}
	for _, f := range d.fanouts {
		if ef, ok := f.(core.EventsFanout); ok && len(evs) > 1 {
			js, err := ef.JobsForEvents(ctx, tx, evs)
			if err != nil {
				return nil, fmt.Errorf("fan out %d events: %w", len(evs), err)
			}
			add(js)
			continue
		}
		for _, ev := range evs {
			js, err := f.JobsFor(ctx, tx, ev)
			if err != nil {
				return nil, fmt.Errorf("fan out %s: %w", ev.Type, err)
			}
			for i := range js {
				// The event decides these, whatever the fan-out filled in.
				js[i].ProjectID, js[i].EventID = ev.ProjectID, ev.ID
			}
			add(js)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return kinds, jobs.Enqueue(ctx, tx, d.dialect, out)
}

// KindsCommitted wakes the workers of the kinds a commit enqueued.
func (d *dispatcher) KindsCommitted(kinds []string) {
	if d.queue != nil {
		d.queue.NotifyKinds(kinds...)
	}
}

// EventsCommitted wakes the queue's pollers: for writes that enqueue jobs
// without reporting their kinds.
func (d *dispatcher) EventsCommitted() {
	if d.queue != nil {
		d.queue.Notify()
	}
}

// jobKind is a queue kind served by a handler written against core types, so
// that adapters need not import the queue.
type jobKind struct {
	name          string
	handler       func(ctx context.Context, batch []core.Job) []core.JobResult
	maxBatch      int
	linger        time.Duration
	workers       int
	timeout       time.Duration
	retry         func(attempt int) time.Duration
	maxAttempts   int
	groupByTarget bool
}

func (k jobKind) register(q *jobs.Queue) {
	q.Register(k.name, jobs.KindConfig{
		MaxBatch: k.maxBatch, Linger: k.linger, Workers: k.workers, Timeout: k.timeout,
		Retry: k.retry, MaxAttempts: k.maxAttempts, GroupByTarget: k.groupByTarget,
		Handler: func(ctx context.Context, batch []jobs.Job) []jobs.Outcome {
			in := make([]core.Job, len(batch))
			for i, j := range batch {
				in[i] = core.Job{ID: j.ID, Kind: j.Kind, ProjectID: j.ProjectID, Target: j.Target, EventID: j.EventID, Attempt: j.Attempt}
			}
			res := k.handler(ctx, in)
			out := make([]jobs.Outcome, len(batch))
			for i := range out {
				if i < len(res) {
					out[i] = jobs.Outcome{Err: res[i].Err, RetryAt: res[i].RetryAt, Discard: res[i].Discard}
				} else {
					out[i] = jobs.Outcome{Err: fmt.Errorf("handler returned %d results for %d jobs", len(res), len(batch))}
				}
			}
			return out
		},
	})
}
