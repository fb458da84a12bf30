package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// jobCollectors are the durable job queue's figures, by job kind (the
// registered kinds: a bounded set).
type jobCollectors struct {
	worked        *prometheus.CounterVec
	batchSize     *prometheus.HistogramVec
	batchDuration *prometheus.HistogramVec
	pending       *prometheus.GaugeVec
	scheduled     *prometheus.GaugeVec
	running       *prometheus.GaugeVec
	discarded     *prometheus.GaugeVec
	oldest        *prometheus.GaugeVec
}

func newJobCollectors(register func(prometheus.Collector)) jobCollectors {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"kind"})
	}
	c := jobCollectors{
		worked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadhub_jobs_worked_total",
			Help: "Jobs worked, by kind and result (completed, retried, discarded, lost).",
		}, []string{"kind", "result"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "leadhub_job_batch_size",
			Help:    "Jobs handed to one handler call, by kind.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
		}, []string{"kind"}),
		batchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "leadhub_job_batch_duration_seconds",
			Help:    "Duration of one handler call, by kind.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"}),
		pending:   gauge("leadhub_jobs_pending", "Jobs due and waiting for a worker, by kind (the queue depth)."),
		scheduled: gauge("leadhub_jobs_scheduled", "Jobs waiting for a later time (retries, delayed jobs), by kind."),
		running:   gauge("leadhub_jobs_running", "Jobs claimed by a worker, by kind."),
		discarded: gauge("leadhub_jobs_discarded", "Jobs that failed for good and are kept for replay, by kind."),
		oldest:    gauge("leadhub_jobs_oldest_pending_age_seconds", "How long the oldest due job of a kind has waited."),
	}
	for _, x := range []prometheus.Collector{c.worked, c.batchSize, c.batchDuration, c.pending, c.scheduled, c.running, c.discarded, c.oldest} {
		register(x)
	}
	return c
}

// JobsWorked counts n jobs of kind that ended with result.
func (m *Metrics) JobsWorked(kind, result string, n int) {
	m.jobs.worked.WithLabelValues(kind, result).Add(float64(n))
}

// JobBatch reports one handler call of kind: how many jobs it carried and how
// long it took.
func (m *Metrics) JobBatch(kind string, size int, d time.Duration) {
	m.jobs.batchSize.WithLabelValues(kind).Observe(float64(size))
	m.jobs.batchDuration.WithLabelValues(kind).Observe(d.Seconds())
}

// JobQueue sets the backlog gauges of kind: the queue depth (pending), jobs
// scheduled for later, running and discarded, and the age of the oldest
// pending job.
func (m *Metrics) JobQueue(kind string, pending, scheduled, running, discarded int64, oldest time.Duration) {
	m.jobs.pending.WithLabelValues(kind).Set(float64(pending))
	m.jobs.scheduled.WithLabelValues(kind).Set(float64(scheduled))
	m.jobs.running.WithLabelValues(kind).Set(float64(running))
	m.jobs.discarded.WithLabelValues(kind).Set(float64(discarded))
	m.jobs.oldest.WithLabelValues(kind).Set(oldest.Seconds())
}
