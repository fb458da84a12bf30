package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/pluginhost"
	"github.com/leadhub/leadhub/sdk"
)

// The plugins section: enrichment end to end through the real server and
// the bundled emailnorm plugin, and the cost of one enricher call made by
// the server beside the same call made bare from this process.

var (
	pluginLeads = flag.Int("plugin-leads", 4_000, "plugins section: leads created, and enriched by emailnorm, in each run")
	pluginCalls = flag.Int("plugin-calls", 100, "plugins section: enricher calls made one at a time in each run, through the server and bare")
	pluginBin   = flag.String("plugin", "", "plugins section: the emailnorm binary (default: plugins/emailnorm beside -bin)")
)

func init() {
	register(section{name: "plugins", rank: 10, run: runPlugins})
}

// enrichKind is the job kind of emailnorm's enricher jobs.
const enrichKind = "plugin.enrich:emailnorm"

// pluginRun is what one run of the section measured.
type pluginRun struct {
	createRate float64       // leads/s created without plugins
	createCPU  time.Duration // the server's CPU per lead, without plugins
	e2eRate    float64       // leads/s from the first create to the last patch
	created    time.Duration // creating the leads, with the plugin
	tail       time.Duration // from the last create to the last patch
	hostCPU    time.Duration // the server's CPU per lead enriched
	pluginCPU  time.Duration // the plugin process's CPU per lead enriched
	loadedMean time.Duration // the server's mean enricher call during the run
	hostMean   time.Duration // the server's enricher call, one at a time
	hostP50    time.Duration
	bareMean   time.Duration // the bare call, one at a time
	bareP50    time.Duration
}

func runPlugins(env *benchEnv) error {
	o, n := env.o, *pluginLeads
	if n < 1000 || *pluginCalls < 10 {
		return errors.New("want -plugin-leads of at least 1000 and -plugin-calls of at least 10")
	}
	path := *pluginBin
	if path == "" {
		path = filepath.Join(filepath.Dir(env.bin), "plugins", "emailnorm")
	}
	path, _ = filepath.Abs(path)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s: %w (run `make build`, which builds the bundled plugins)", path, err)
	}
	bare, err := startBarePlugin(path)
	if err != nil {
		return fmt.Errorf("bare plugin client: %w", err)
	}
	defer bare.client.Kill()

	admin := "lhadmin_bench_" + uuid.NewString()
	var runs []pluginRun
	for i := range o.runs {
		seed := env.seed ^ 0x9106 + uint64(i)
		var r pluginRun
		say("plugins run %d: %d leads through POST /leads/batch without plugins (fresh database)", i+1, n)
		if err := createWithoutPlugins(env, admin, i, seed, n, &r); err != nil {
			return err
		}
		say("  %.0f leads/s, server CPU %s a lead", r.createRate, usec(r.createCPU))
		say("plugins run %d: the same leads with emailnorm (fresh database), until every one has attributes.email_domain", i+1)
		if err := enrichRun(env, admin, i, seed, n, path, bare, &r); err != nil {
			return err
		}
		say("  %.0f leads/s end to end: created in %s, last patch %s later; CPU a lead: server %s, plugin %s; calls under load: mean %s",
			r.e2eRate, r.created.Round(time.Millisecond), r.tail.Round(time.Millisecond), usec(r.hostCPU), usec(r.pluginCPU), usec(r.loadedMean))
		say("  %d calls one at a time: made by the server p50 %s, mean %s; bare from the bench p50 %s, mean %s",
			*pluginCalls, usec(r.hostP50), usec(r.hostMean), usec(r.bareP50), usec(r.bareMean))
		runs = append(runs, r)
	}

	med := func(f func(pluginRun) float64) float64 {
		var v []float64
		for _, r := range runs {
			v = append(v, f(r))
		}
		return median(v)
	}
	e2e, create := med(func(r pluginRun) float64 { return r.e2eRate }), med(func(r pluginRun) float64 { return r.createRate })
	created := time.Duration(med(func(r pluginRun) float64 { return float64(r.created) }))
	tail := time.Duration(med(func(r pluginRun) float64 { return float64(r.tail) }))
	env.rep.add(row{fmt.Sprintf("enrichment end to end, %s leads (`POST /leads/batch` → emailnorm → patch committed): leads/s", thousands(n)),
		fmt.Sprintf("%.0f (created in %.1f s, last patch %.1f s later)", e2e, created.Seconds(), tail.Seconds()),
		fmt.Sprintf("the same leads created without plugins: %.0f/s", create), fmt.Sprintf("%.0f%%", 100*med(func(r pluginRun) float64 { return r.e2eRate / r.createRate })),
		"≥ 3,000/s", verdict(e2e >= 3000)})

	// Ratios are those of each run, then their median: the two sides of a
	// ratio are taken seconds apart, in the same weather.
	dur := func(f func(pluginRun) time.Duration) time.Duration {
		return time.Duration(med(func(r pluginRun) float64 { return float64(f(r)) }))
	}
	ratio := med(func(r pluginRun) float64 { return float64(r.hostP50) / float64(r.bareP50) })
	meanRatio := med(func(r pluginRun) float64 { return float64(r.hostMean) / float64(r.bareMean) })
	env.rep.add(row{fmt.Sprintf("enricher call made by the server, %d one at a time (`leadhub_plugin_call_duration_seconds`, emailnorm `Enrich`): p50 / mean", *pluginCalls),
		fmt.Sprintf("%s / %s (mean %s with up to %d in flight during the end-to-end run)", usec(dur(func(r pluginRun) time.Duration { return r.hostP50 })),
			usec(dur(func(r pluginRun) time.Duration { return r.hostMean })), usec(dur(func(r pluginRun) time.Duration { return r.loadedMean })), pluginhost.DefaultConcurrency),
		fmt.Sprintf("bare go-plugin gRPC call from the bench, same binary, same buckets: %s / %s", usec(dur(func(r pluginRun) time.Duration { return r.bareP50 })),
			usec(dur(func(r pluginRun) time.Duration { return r.bareMean }))),
		fmt.Sprintf("%.1fx (means: %.1fx)", ratio, meanRatio), "≤ 2x", verdict(ratio <= 2)})
	hostCPU, pluginCPU := dur(func(r pluginRun) time.Duration { return r.hostCPU }), dur(func(r pluginRun) time.Duration { return r.pluginCPU })
	createCPU := dur(func(r pluginRun) time.Duration { return r.createCPU })
	env.rep.add(row{"CPU time a lead, created and enriched: server + plugin process", usec(hostCPU) + " + " + usec(pluginCPU),
		"created without plugins: " + usec(createCPU) + " (server)", fmt.Sprintf("%.1fx", med(func(r pluginRun) float64 { return float64(r.hostCPU+r.pluginCPU) / float64(r.createCPU) })), "", ""})
	return nil
}

// usec prints a duration in microseconds, or milliseconds from 10 ms up.
func usec(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return ms(d)
	}
	return fmt.Sprintf("%d µs", d.Microseconds())
}

// createWithoutPlugins is the baseline of a run: the same leads created on a
// server without plugins.
func createWithoutPlugins(env *benchEnv, admin string, i int, seed uint64, n int, r *pluginRun) error {
	srv, stop, err := env.startServer(filepath.Join(env.dir, fmt.Sprintf("plugins-off-%d", i)), admin, false)
	if err != nil {
		return err
	}
	defer stop()
	key, err := newProject(srv)
	if err != nil {
		return err
	}
	pid := srv.cmd.Process.Pid
	cpu0, t0 := cpuTime(pid), time.Now()
	if err := bulk(srv, key, seed, 0, n, env.o.bulkConns, nil); err != nil {
		return err
	}
	took := time.Since(t0)
	r.createRate = float64(n) / took.Seconds()
	r.createCPU = (cpuTime(pid) - cpu0) / time.Duration(n)
	return nil
}

// enrichRun creates the leads on a server running emailnorm, and times them
// from the first create until the last enricher job is done: each job's
// patch is committed before the job completes. Then it times single calls,
// through the server and bare.
func enrichRun(env *benchEnv, admin string, i int, seed uint64, n int, plugin string, bare *barePlugin, r *pluginRun) error {
	dir := filepath.Join(env.dir, fmt.Sprintf("plugins-on-%d", i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "leadhub.yaml")
	yaml := fmt.Sprintf("plugins:\n  - name: emailnorm\n    path: %q\n    timeout: 2s\n", plugin)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return err
	}
	srv, stop, err := env.startServer(dir, admin, i == 0, "LEADHUB_CONFIG="+cfg)
	if err != nil {
		return err
	}
	defer stop()
	if err := pluginRunning(srv, "emailnorm"); err != nil {
		return err
	}
	kids := childPIDs(srv.cmd.Process.Pid)
	if len(kids) != 1 {
		return fmt.Errorf("%d child processes of the server, want emailnorm's alone: %v", len(kids), kids)
	}
	key, err := newProject(srv)
	if err != nil {
		return err
	}
	m0, err := scrape(srv)
	if err != nil {
		return err
	}
	jobs := func(m metricsText, result string) float64 {
		return m.sum("leadhub_jobs_worked_total", "kind", enrichKind, "result", result)
	}
	calls := func(m metricsText) (float64, float64) {
		l := []string{"plugin", "emailnorm", "method", "enrich"}
		return m.sum("leadhub_plugin_call_duration_seconds_sum", l...), m.sum("leadhub_plugin_call_duration_seconds_count", l...)
	}
	// done waits until want enricher jobs more than in base have completed;
	// a discarded job fails the run (it will never be enriched).
	done := func(base metricsText, want int, timeout time.Duration) (time.Time, error) {
		return waitMetric(srv, timeout, 25*time.Millisecond, func(m metricsText) (bool, string, error) {
			c, d, rt := jobs(m, "completed")-jobs(base, "completed"), jobs(m, "discarded")-jobs(base, "discarded"), jobs(m, "retried")-jobs(base, "retried")
			state := fmt.Sprintf("%.0f of %d enricher jobs completed, %.0f retried, %.0f discarded", c, want, rt, d)
			if d > 0 {
				return false, state, errors.New(state)
			}
			return c >= float64(want), state, nil
		})
	}

	srvPID, plugPID := srv.cmd.Process.Pid, kids[0]
	cpuS0, cpuP0, t0 := cpuTime(srvPID), cpuTime(plugPID), time.Now()
	if err := bulk(srv, key, seed, 0, n, env.o.bulkConns, nil); err != nil {
		return err
	}
	r.created = time.Since(t0)
	// With -profile, the first run's enrichment once every lead exists.
	prof := startProfile(srv, filepath.Join(env.o.profile, "enrich.pprof"), 4*time.Second)
	end, err := done(m0, n, 30*time.Second+time.Duration(n)*2*time.Millisecond)
	prof.wait()
	if err != nil {
		return fmt.Errorf("enrichment: %w", err)
	}
	r.tail = end.Sub(t0) - r.created
	r.e2eRate = float64(n) / end.Sub(t0).Seconds()
	r.hostCPU = (cpuTime(srvPID) - cpuS0) / time.Duration(n)
	r.pluginCPU = (cpuTime(plugPID) - cpuP0) / time.Duration(n)
	m1, err := scrape(srv)
	if err != nil {
		return err
	}
	s0, c0 := calls(m0)
	s1, c1 := calls(m1)
	if c1-c0 < float64(n) {
		return fmt.Errorf("%.0f enricher calls for %d leads", c1-c0, n)
	}
	r.loadedMean = time.Duration((s1 - s0) / (c1 - c0) * float64(time.Second))
	if err := checkEnriched(srv, key, n); err != nil {
		return err
	}

	// Single calls: one lead created at a time, its enricher call made by
	// the server while the bench waits; between two of them the bench makes
	// the same call bare, on the same kind of lead.
	k := *pluginCalls
	pid, secret := splitKey(key)
	type one struct {
		body []byte
		ev   sdk.Event
		lead sdk.Lead
	}
	ones := make([]one, k)
	for j := range ones {
		p := personN(n+j, seed)
		body, _ := json.Marshal(p.lead(true))
		ev, lead := sdkPair(pid, p)
		ones[j] = one{body, ev, lead}
	}
	bareLat := make([]time.Duration, 0, k)
	for _, x := range ones {
		if _, err := apiCall(srv, "POST", "/v1/projects/"+pid+"/leads", secret, x.body, 201); err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
		d, err := bare.enrich(x.ev, x.lead)
		if err != nil {
			return fmt.Errorf("bare call: %w", err)
		}
		bareLat = append(bareLat, d)
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := done(m1, k, 30*time.Second); err != nil {
		return fmt.Errorf("single calls: %w", err)
	}
	m2, err := scrape(srv)
	if err != nil {
		return err
	}
	s2, c2 := calls(m2)
	if c2-c1 != float64(k) {
		return fmt.Errorf("%.0f enricher calls for %d single leads", c2-c1, k)
	}
	r.hostMean = time.Duration((s2 - s1) / (c2 - c1) * float64(time.Second))
	// The p50 of each side, read from the server's buckets: the bare
	// latencies go into the same buckets, so that both are interpolated
	// alike.
	les, host := bucketDeltas(m1, m2, "leadhub_plugin_call_duration_seconds", "plugin", "emailnorm", "method", "enrich")
	bareCum := make([]float64, len(les))
	for i, le := range les {
		for _, d := range bareLat {
			if d.Seconds() <= le {
				bareCum[i]++
			}
		}
	}
	r.hostP50 = histQuantile(0.5, les, host)
	r.bareP50 = histQuantile(0.5, les, bareCum)
	var sum time.Duration
	for _, d := range bareLat {
		sum += d
	}
	r.bareMean = sum / time.Duration(len(bareLat))
	return checkEnriched(srv, key, n+k)
}

// pluginRunning checks GET /v1/plugins: the plugin must be running.
func pluginRunning(s *server, name string) error {
	b, err := apiCall(s, "GET", "/v1/plugins", s.adminKey, nil, 200)
	if err != nil {
		return err
	}
	var list struct {
		Items []struct {
			Name      string `json:"name"`
			State     string `json:"state"`
			LastError string `json:"last_error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	for _, p := range list.Items {
		if p.Name == name {
			if p.State != core.PluginRunning {
				return fmt.Errorf("plugin %s is %s: %s (see %s/server.log)", name, p.State, p.LastError, s.dir)
			}
			return nil
		}
	}
	return fmt.Errorf("plugin %s not in GET /v1/plugins: %s", name, b)
}

// checkEnriched counts, once, the project's leads that have the enricher's
// attribute, on the server's file: there must be want of them.
func checkEnriched(s *server, key string, want int) error {
	db, err := readOnly(s.dbPath())
	if err != nil {
		return err
	}
	defer db.Close()
	pid, _ := splitKey(key)
	var all, enriched int
	err = db.QueryRow(`SELECT count(*), count(json_extract(attributes, '$.email_domain')) FROM leads WHERE project_id = ?`, pid).Scan(&all, &enriched)
	if err != nil {
		return fmt.Errorf("count enriched leads: %w", err)
	}
	if all != want || enriched != want {
		return fmt.Errorf("%d leads, %d of them with attributes.email_domain, want %d", all, enriched, want)
	}
	return nil
}

// sdkPair is the event and lead the server hands an enricher for a lead it
// has just created from p: a lead.created event carrying the lead.
func sdkPair(project string, p person) (sdk.Event, sdk.Lead) {
	now := time.Now().UTC()
	l := p.lead(true)
	cl := &core.Lead{ID: uuid.Must(uuid.NewV7()).String(), ProjectID: project, UserIDs: []string{p.userID}, Fullname: l.Fullname,
		Email: l.Email, Phone: l.Phone, Company: l.Company, Attributes: l.Attributes, Tags: []string{}, Status: core.LeadActive,
		CreatedAt: now, UpdatedAt: now, LastSeenAt: now}
	data, _ := json.Marshal(core.EventData{Lead: cl})
	ev := sdk.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: sdk.EventLeadCreated, ProjectID: project, LeadID: cl.ID,
		Actor: "key:bench", CreatedAt: now, Data: data}
	lead := sdk.Lead{ID: cl.ID, ProjectID: project, UserIDs: cl.UserIDs, Fullname: cl.Fullname, Email: cl.Email, Phone: cl.Phone,
		Company: cl.Company, Attributes: cl.Attributes, Tags: cl.Tags, Status: cl.Status, CreatedAt: now, UpdatedAt: now, LastSeenAt: now}
	return ev, lead
}

// barePlugin is the plugin binary started by this process with go-plugin
// alone, configured as the host configures its plugins: the SDK's handshake,
// plugin set and dial options, gRPC, automatic mTLS.
type barePlugin struct {
	client *goplugin.Client
	c      *sdk.Client
}

func startBarePlugin(path string) (*barePlugin, error) {
	cmd := exec.Command(path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.ClientPlugins(nil),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		AutoMTLS:         true,
		Logger:           hclog.NewNullLogger(),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, err
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		client.Kill()
		return nil, err
	}
	b := &barePlugin{client: client, c: raw.(*sdk.Client)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.c.Describe(ctx); err != nil {
		client.Kill()
		return nil, err
	}
	if err := b.c.Configure(ctx, nil); err != nil {
		client.Kill()
		return nil, err
	}
	return b, nil
}

// enrich makes one Enrich call under the host's default timeout and returns
// how long the call took, timed as the host times its calls.
func (b *barePlugin) enrich(ev sdk.Event, lead sdk.Lead) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	p, err := b.c.Enrich(ctx, ev, lead)
	d := time.Since(start)
	if err == nil && p.Attributes["email_domain"] == nil {
		err = fmt.Errorf("no email_domain in the patch: %+v", p)
	}
	return d, err
}
