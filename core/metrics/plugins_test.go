package metrics

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gathered renders the registry's series as "name{k=v,...} value" lines; a
// histogram's value is its sample count.
func gathered(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				v = float64(m.GetHistogram().GetSampleCount())
			}
			b.WriteString(f.GetName() + "{" + strings.Join(labels, ",") + "} " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
		}
	}
	return b.String()
}

func TestPluginAndJobMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.PluginUp("dupemail", true)
	m.PluginUp("slack", false)
	m.PluginCall("dupemail", "detect", "ok", 2*time.Millisecond)
	m.PluginCall("dupemail", "detect", "timeout", 2*time.Second)
	m.PluginRestarted("dupemail")
	m.JobsWorked("plugin.detect:dupemail", "completed", 3)
	m.JobBatch("plugin.detect:dupemail", 3, time.Millisecond)
	m.JobQueue("plugin.detect:dupemail", 7, 1, 2, 0, 1500*time.Millisecond)

	got := gathered(t, reg)
	for _, want := range []string{
		"leadhub_plugin_calls_total{method=detect,outcome=ok,plugin=dupemail} 1",
		"leadhub_plugin_calls_total{method=detect,outcome=timeout,plugin=dupemail} 1",
		"leadhub_plugin_call_duration_seconds{method=detect,plugin=dupemail} 2",
		"leadhub_plugin_timeouts_total{method=detect,plugin=dupemail} 1",
		"leadhub_plugin_restarts_total{plugin=dupemail} 1",
		"leadhub_plugin_restarts_total{plugin=slack} 0",
		"leadhub_plugin_up{plugin=dupemail} 1",
		"leadhub_plugin_up{plugin=slack} 0",
		"leadhub_jobs_worked_total{kind=plugin.detect:dupemail,result=completed} 3",
		"leadhub_job_batch_size{kind=plugin.detect:dupemail} 1",
		"leadhub_job_batch_duration_seconds{kind=plugin.detect:dupemail} 1",
		"leadhub_jobs_pending{kind=plugin.detect:dupemail} 7",
		"leadhub_jobs_scheduled{kind=plugin.detect:dupemail} 1",
		"leadhub_jobs_running{kind=plugin.detect:dupemail} 2",
		"leadhub_jobs_discarded{kind=plugin.detect:dupemail} 0",
		"leadhub_jobs_oldest_pending_age_seconds{kind=plugin.detect:dupemail} 1.5",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	if t.Failed() {
		t.Logf("gathered:\n%s", got)
	}
}
