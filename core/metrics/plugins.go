package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pluginCollectors are the plugin host's figures. Label values are bounded:
// plugin names come from the configuration, methods and outcomes from the
// host's own short lists.
type pluginCollectors struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	timeouts *prometheus.CounterVec
	restarts *prometheus.CounterVec
	up       *prometheus.GaugeVec
}

func newPluginCollectors(register func(prometheus.Collector)) pluginCollectors {
	c := pluginCollectors{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadhub_plugin_calls_total",
			Help: "Calls from the host to plugins, by plugin, method and outcome (ok, error, timeout, panic, too_large, invalid, unavailable, canceled).",
		}, []string{"plugin", "method", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "leadhub_plugin_call_duration_seconds",
			Help:    "Latency of calls from the host to plugins, by plugin and method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"plugin", "method"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadhub_plugin_timeouts_total",
			Help: "Plugin calls that ran out of their time, by plugin and method.",
		}, []string{"plugin", "method"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadhub_plugin_restarts_total",
			Help: "Plugin processes started again after a crash or a re-enable, by plugin.",
		}, []string{"plugin"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leadhub_plugin_up",
			Help: "1 while a plugin's process is running and configured, 0 otherwise.",
		}, []string{"plugin"}),
	}
	for _, x := range []prometheus.Collector{c.calls, c.duration, c.timeouts, c.restarts, c.up} {
		register(x)
	}
	return c
}

// PluginCall counts one call to a plugin: its method (describe, configure,
// enrich, detect, deliver, ping), outcome and duration. An outcome of
// "timeout" also counts in leadhub_plugin_timeouts_total.
func (m *Metrics) PluginCall(plugin, method, outcome string, d time.Duration) {
	m.plugin.calls.WithLabelValues(plugin, method, outcome).Inc()
	m.plugin.duration.WithLabelValues(plugin, method).Observe(d.Seconds())
	if outcome == "timeout" {
		m.plugin.timeouts.WithLabelValues(plugin, method).Inc()
	}
}

// PluginRestarted counts a restart of a plugin's process.
func (m *Metrics) PluginRestarted(plugin string) {
	m.plugin.restarts.WithLabelValues(plugin).Inc()
}

// PluginUp sets whether a plugin is up. The host reports every configured
// plugin at start, so the gauge exists for each from the first scrape.
func (m *Metrics) PluginUp(plugin string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.plugin.up.WithLabelValues(plugin).Set(v)
	// Make the restart counter visible at 0 too.
	m.plugin.restarts.WithLabelValues(plugin)
}
