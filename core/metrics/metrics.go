// Package metrics exposes Leadhub's figures in the Prometheus text format. It
// is the only package that imports client_golang; everything else reports
// through small interfaces it implements. Metrics live on a registry passed
// in, never on globals, and no label holds an id, a URL or an email.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	leadsCreated    prometheus.Counter
	requestsCreated prometheus.Counter
	txDuration      prometheus.Histogram
	txErrors        prometheus.Counter
	txBatch         prometheus.Histogram

	plugin pluginCollectors // plugins.go
	jobs   jobCollectors    // jobs.go
	hub    hubCollectors    // webhooks.go
}

// New registers the collectors on reg, with the Go and process collectors.
func New(reg *prometheus.Registry) *Metrics {
	m := &Metrics{reg: reg}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leadhub_http_requests_total", Help: "HTTP requests by method, route template and status.",
	}, []string{"method", "route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "leadhub_http_request_duration_seconds", Help: "HTTP request latency by method and route template.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"method", "route"})
	m.leadsCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "leadhub_leads_created_total", Help: "Leads created, by hand or by a first request."})
	m.requestsCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "leadhub_requests_created_total", Help: "Requests (conversations) created."})
	m.txDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "leadhub_store_tx_duration_seconds", Help: "Write transaction latency, from begin to commit.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	m.txErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "leadhub_store_tx_errors_total", Help: "Write transactions that failed to commit."})
	m.txBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "leadhub_store_tx_batch_size", Help: "Writes carried by one transaction (group commit).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
	})
	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.leadsCreated, m.requestsCreated, m.txDuration, m.txErrors, m.txBatch} {
		f(c)
	}
	m.plugin = newPluginCollectors(f)
	m.jobs = newJobCollectors(f)
	m.hub = newHubCollectors(f)
	return m
}

// Registry is where other collectors register.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveHTTP implements httpapi.Observer.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// TxDone implements core.StoreMetrics.
func (m *Metrics) TxDone(batch int, d time.Duration, err error) {
	m.txDuration.Observe(d.Seconds())
	m.txBatch.Observe(float64(batch))
	if err != nil {
		m.txErrors.Inc()
	}
}

// LeadsCreated implements core.StoreMetrics.
func (m *Metrics) LeadsCreated(n int) { m.leadsCreated.Add(float64(n)) }

// RequestsCreated implements core.StoreMetrics.
func (m *Metrics) RequestsCreated(n int) { m.requestsCreated.Add(float64(n)) }
