package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// hubCollectors are the webhook hub's figures: inbound deliveries by
// channel kind and result, outbound attempts by outcome and status class,
// their latency and disabled endpoints. The delivery queue's depth and the
// age of its oldest pending delivery are the job queue's figures for the
// kinds webhook.deliver and webhook.resend (jobs.go). Labels take values
// from small fixed sets: no URL, id or secret ever becomes one.
type hubCollectors struct {
	inbound         *prometheus.CounterVec
	deliveries      *prometheus.CounterVec
	deliveryLatency prometheus.Histogram
	disabled        *prometheus.CounterVec
}

func newHubCollectors(register func(prometheus.Collector)) hubCollectors {
	var h hubCollectors
	h.inbound = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leadhub_inbound_deliveries_total",
		Help: "Inbound channel deliveries by channel kind and result (ok, ignored, duplicate, bad_signature, stale, too_large, unreadable, error, unknown_channel).",
	}, []string{"kind", "result"})
	h.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leadhub_webhook_deliveries_total",
		Help: "Outbound webhook attempts by outcome (succeeded, failed, gone, error, blocked, skipped) and response status class.",
	}, []string{"outcome", "status_class"})
	h.deliveryLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "leadhub_webhook_delivery_duration_seconds",
		Help:    "Outbound webhook attempt latency, from request to the end of the answer.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	h.disabled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leadhub_webhook_endpoints_disabled_total",
		Help: "Webhook endpoints disabled by the server, by reason (gone: it answered 410; failing: no success for the configured time).",
	}, []string{"reason"})
	for _, c := range []prometheus.Collector{h.inbound, h.deliveries, h.deliveryLatency, h.disabled} {
		register(c)
	}
	return h
}

// InboundReceived implements inbound.Observer.
func (m *Metrics) InboundReceived(kind, result string) {
	m.hub.inbound.WithLabelValues(kind, result).Inc()
}

// WebhookDelivered implements webhooks.Observer.
func (m *Metrics) WebhookDelivered(outcome, statusClass string, d time.Duration) {
	m.hub.deliveries.WithLabelValues(outcome, statusClass).Inc()
	if outcome != "skipped" {
		m.hub.deliveryLatency.Observe(d.Seconds())
	}
}

// WebhookEndpointDisabled implements webhooks.Observer.
func (m *Metrics) WebhookEndpointDisabled(reason string) {
	m.hub.disabled.WithLabelValues(reason).Inc()
}
