package main

import (
	"bytes"
	"cmp"
	"database/sql"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What the sections beyond the core one read of a running server without
// asking its API: its Prometheus figures, the CPU time of its processes and,
// read-only, its SQLite file.

// series is one line of the server's /metrics.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// metricsText is a scrape of /metrics.
type metricsText []series

// scrape reads the server's /metrics.
func scrape(s *server) (metricsText, error) {
	c := &conn{addr: s.addr}
	defer c.close()
	st, body, err := c.do("GET", "/metrics", "", nil)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	if st != 200 {
		return nil, fmt.Errorf("GET /metrics: %d", st)
	}
	var out metricsText
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		i := bytes.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(string(line[i+1:]), 64)
		if err != nil {
			continue
		}
		x := series{value: v, labels: map[string]string{}}
		head := string(line[:i])
		name, rest, hasLabels := strings.Cut(head, "{")
		x.name = name
		if hasLabels {
			// Label values here are plugin names, job kinds and outcomes:
			// no commas, quotes or braces inside them.
			for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
				k, v, ok := strings.Cut(kv, "=")
				if ok {
					x.labels[k] = strings.Trim(v, `"`)
				}
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// sum adds up the series called name that carry every given label; labels
// are name, value pairs.
func (m metricsText) sum(name string, labels ...string) float64 {
	var t float64
	for _, x := range m {
		if x.is(name, labels...) {
			t += x.value
		}
	}
	return t
}

// is says whether x is called name and carries every given label.
func (x series) is(name string, labels ...string) bool {
	if x.name != name {
		return false
	}
	for i := 0; i+1 < len(labels); i += 2 {
		if x.labels[labels[i]] != labels[i+1] {
			return false
		}
	}
	return true
}

// waitMetric scrapes the server every poll until done says so, and returns
// when it first did. It fails when done returns an error, or after timeout
// with what done last said.
func waitMetric(s *server, timeout, poll time.Duration, done func(metricsText) (bool, string, error)) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := scrape(s)
		if err != nil {
			return time.Time{}, err
		}
		ok, state, err := done(m)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("not done after %s: %s (see %s/server.log)", timeout, state, s.dir)
		}
		time.Sleep(poll)
	}
}

// cpuTime is the user and system CPU time process pid has used so far, from
// /proc (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 || i+2 > len(raw) {
		return 0
	}
	f := strings.Fields(string(raw[i+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// childPIDs lists the running processes whose parent is pid.
func childPIDs(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(raw[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			out = append(out, c)
		}
	}
	return out
}

// readOnly opens a server's SQLite file for the checks made once a run is
// over; the server may still be running.
func readOnly(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// apiCall makes one request with the bench's client and wants the status
// want; it returns the body.
func apiCall(s *server, method, path, key string, body []byte, want int) ([]byte, error) {
	c := &conn{addr: s.addr}
	defer c.close()
	st, b, err := c.do(method, path, key, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if st != want {
		return nil, fmt.Errorf("%s %s: %d %.300s", method, path, st, b)
	}
	return bytes.Clone(b), nil
}

// splitKey splits newProject's "id|key".
func splitKey(key string) (project, secret string) {
	project, secret, _ = strings.Cut(key, "|")
	return project, secret
}

// bucketDeltas reads histogram name (the series that carry every given
// label) in two scrapes, and returns its upper bounds, ascending, with the
// cumulative counts added between the two.
func bucketDeltas(before, after metricsText, name string, labels ...string) ([]float64, []float64) {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for _, x := range after {
		if !x.is(name+"_bucket", labels...) {
			continue
		}
		le, err := strconv.ParseFloat(x.labels["le"], 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, x.value - before.sum(name+"_bucket", append([]string{"le", x.labels["le"]}, labels...)...)})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	les, cum := make([]float64, len(bs)), make([]float64, len(bs))
	for i, b := range bs {
		les[i], cum[i] = b.le, b.n
	}
	return les, cum
}

// histQuantile is the q-quantile of a histogram as Prometheus's
// histogram_quantile computes it: linear within the bucket it falls in.
func histQuantile(q float64, les, cum []float64) time.Duration {
	if len(cum) == 0 || cum[len(cum)-1] == 0 {
		return 0
	}
	rank := q * cum[len(cum)-1]
	for i, c := range cum {
		if c < rank {
			continue
		}
		if math.IsInf(les[i], 1) {
			return time.Duration(les[max(i-1, 0)] * float64(time.Second))
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = les[i-1], cum[i-1]
		}
		v := lo + (les[i]-lo)*(rank-below)/(c-below)
		return time.Duration(v * float64(time.Second))
	}
	return 0
}
