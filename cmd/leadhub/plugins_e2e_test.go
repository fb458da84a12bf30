package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leadhub/leadhub/config"
	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/jobs"
	"github.com/leadhub/leadhub/core/metrics"
	"github.com/leadhub/leadhub/core/pluginhost"
	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/internal/testdb"
	"github.com/leadhub/leadhub/internal/testplugins"

	"github.com/prometheus/client_golang/prometheus"
)

// End-to-end tests of the plugin host with real plugin binaries: the bundled
// plugins and the test plugins of core/pluginhost/testdata, built once per
// test binary.

// pluginBin returns the path of a plugin binary: a bundled plugin
// (emailnorm, dupemail, slack) or a test plugin (faulty, filesink, garbage).
func pluginBin(t testing.TB, name string) string { t.Helper(); return testplugins.Path(t, name) }

// withPlugins adds plugins to a server's configuration.
func withPlugins(ps ...config.Plugin) func(*config.Config) {
	return func(c *config.Config) { c.Plugins = append(c.Plugins, ps...) }
}

func sinkPlugin(t testing.TB, name, path string) config.Plugin {
	return config.Plugin{Name: name, Path: pluginBin(t, "filesink"), Config: map[string]any{"path": path}}
}

func faultyPlugin(t testing.TB, name, mode string) config.Plugin {
	return config.Plugin{Name: name, Path: pluginBin(t, "faulty"), Timeout: 300 * time.Millisecond, Config: map[string]any{"mode": mode}}
}

// plugins returns GET /v1/plugins by name.
func (s *testServer) plugins() map[string]map[string]any {
	s.t.Helper()
	out := map[string]map[string]any{}
	for _, p := range items(s.must(200, "GET", "/v1/plugins", testAdminKey, nil)) {
		out[p["name"].(string)] = p
	}
	return out
}

// eventually retries check until it returns "" or within ends.
func eventually(t testing.TB, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// sinkEvents reads the event ids a filesink wrote (with repeats).
func sinkEvents(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev struct{ ID string }
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("sink line %q: %v", sc.Text(), err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// timelineIDs returns the ids of every event on the timelines of the
// project's leads, whatever their status.
func (s *testServer) timelineIDs(p testProject) []string {
	s.t.Helper()
	var ids []string
	for _, l := range items(s.must(200, "GET", p.leadsPath+"?status=all&limit=500", p.Agent, nil)) {
		cursor := ""
		for {
			body := s.must(200, "GET", p.leadsPath+"/"+l["id"].(string)+"/events?limit=500&cursor="+cursor, p.Agent, nil)
			for _, ev := range items(body) {
				ids = append(ids, ev["id"].(string))
			}
			next, _ := body["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return ids
}

// missingFromSink names the timeline events the sink has not received.
func missingFromSink(t testing.TB, s *testServer, p testProject, sinkPath string) []string {
	got := map[string]bool{}
	for _, id := range sinkEvents(t, sinkPath) {
		got[id] = true
	}
	var missing []string
	for _, id := range s.timelineIDs(p) {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

// The seed scenario with the bundled plugins: the same person from two
// browsers, typing her Gmail address two ways, gives exactly one duplicate
// suggestion from dupemail; emailnorm adds the email domain; the sink gets
// every lead event.
func TestPluginsSeedScenario(t *testing.T) {
	sink := filepath.Join(t.TempDir(), "events.jsonl")
	s := startServer(t, withPlugins(
		config.Plugin{Name: "emailnorm", Path: pluginBin(t, "emailnorm")},
		config.Plugin{Name: "dupemail", Path: pluginBin(t, "dupemail")},
		sinkPlugin(t, "sink", sink),
	))
	for name, info := range s.plugins() {
		if info["state"] != core.PluginRunning {
			t.Fatalf("plugin %s: %v", name, info)
		}
	}
	p := s.newProject("acme")
	a := field(s.ingest(p, "0b6c5a9e-user-a", map[string]any{"fullname": "Andrea Sp", "email": "Andrea.1@gmail.com"}), "lead", "id").(string)
	b := field(s.ingest(p, "7f1d2c3b-user-b", map[string]any{"fullname": "Andrea Sp1", "email": "andrea1+chat@googlemail.com"}), "lead", "id").(string)

	eventually(t, 20*time.Second, func() string {
		for id, domain := range map[string]string{a: "gmail.com", b: "googlemail.com"} {
			l := s.must(200, "GET", p.leadsPath+"/"+id, p.Agent, nil)
			if got := field(l, "attributes", "email_domain"); got != domain {
				return fmt.Sprintf("lead %s email_domain %v, want %s", id, got, domain)
			}
		}
		if n := len(items(s.must(200, "GET", p.path("/duplicates"), p.Agent, nil))); n != 1 {
			return fmt.Sprintf("%d duplicate suggestions", n)
		}
		if m := missingFromSink(t, s, p, sink); len(m) > 0 {
			return fmt.Sprintf("sink lacks events %v", m)
		}
		return ""
	})
	dups := items(s.must(200, "GET", p.path("/duplicates"), p.Agent, nil))
	d := dups[0]
	pair := []string{a, b}
	sort.Strings(pair)
	got := []string{d["lead_ids"].([]any)[0].(string), d["lead_ids"].([]any)[1].(string)}
	sort.Strings(got)
	if !slices.Equal(got, pair) || d["detector"] != "dupemail" || d["reason"] != "same canonical email" {
		t.Fatalf("suggestion %v", d)
	}
	// Nothing more comes: the queue settles with one suggestion.
	time.Sleep(1500 * time.Millisecond)
	if n := len(items(s.must(200, "GET", p.path("/duplicates"), p.Agent, nil))); n != 1 {
		t.Fatalf("%d suggestions after settling", n)
	}
	// emailnorm's update is on the timeline as its own, and it did not get
	// its own event back (one update per lead, nothing looping).
	for _, id := range pair {
		var byPlugin int
		for _, ev := range items(s.must(200, "GET", p.leadsPath+"/"+id+"/events", p.Agent, nil)) {
			if ev["actor"] == "plugin:emailnorm" {
				byPlugin++
				if ev["type"] != core.EventLeadUpdated {
					t.Fatalf("event by emailnorm: %v", ev)
				}
			}
		}
		if byPlugin != 1 {
			t.Fatalf("lead %s: %d updates by emailnorm, want 1", id, byPlugin)
		}
	}
	if m := missingFromSink(t, s, p, sink); len(m) > 0 {
		t.Fatalf("sink lacks %v", m)
	}
	infos := s.plugins()
	for _, name := range []string{"emailnorm", "dupemail", "sink"} {
		if infos[name]["calls"].(float64) == 0 || infos[name]["errors"].(float64) != 0 {
			t.Fatalf("%s: %v", name, infos[name])
		}
	}
	metricsText := string(s.do("GET", "/metrics", "", nil).Raw)
	for _, want := range []string{
		`leadhub_plugin_calls_total{method="detect",outcome="ok",plugin="dupemail"}`,
		`leadhub_plugin_up{plugin="emailnorm"} 1`,
		`leadhub_jobs_worked_total{kind="plugin.sink:sink",result="completed"}`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A sink plugin killed with SIGKILL while events stream in is restarted,
// and every event still reaches it.
func TestPluginKilledMidStreamLosesNoEvents(t *testing.T) {
	sink := filepath.Join(t.TempDir(), "events.jsonl")
	s := startServer(t, withPlugins(sinkPlugin(t, "sink", sink)))
	p := s.newProject("stream")

	pid := s.srv.plugins.PID("sink")
	if pid == 0 {
		t.Fatal("sink not running")
	}
	const n = 300
	for i := 0; i < n; i++ {
		s.ingest(p, fmt.Sprintf("user-%d", i%60), map[string]any{"fullname": fmt.Sprint("Person ", i%60)})
		if i == n/3 {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, 30*time.Second, func() string {
		if m := missingFromSink(t, s, p, sink); len(m) > 0 {
			return fmt.Sprintf("sink lacks %d events", len(m))
		}
		return ""
	})
	info := s.plugins()["sink"]
	if info["state"] != core.PluginRunning || info["restarts"].(float64) < 1 {
		t.Fatalf("after kill: %v", info)
	}
	if s.srv.plugins.PID("sink") == pid {
		t.Fatal("same process after kill")
	}
}

// ingestOnce posts one request and returns its latency.
func ingestOnce(t testing.TB, s *testServer, p testProject, i int) time.Duration {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"user_id": fmt.Sprint("lat-", i), "lead": map[string]any{"email": fmt.Sprintf("p%d@example.com", i)}})
	req, _ := http.NewRequest("POST", s.URL+p.requestPath, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.Ingest)
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	d := time.Since(start)
	if res.StatusCode != 201 {
		t.Fatalf("ingest: %d", res.StatusCode)
	}
	return d
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// A plugin that hangs is timed out, and ingest does not wait for it: its
// median latency stays where it is without the plugin. Requests alternate
// between two servers, one without plugins and one with a plugin that
// hangs, so that both see the same machine.
func TestHangingPluginDoesNotSlowIngest(t *testing.T) {
	base := startServer(t)
	bp := base.newProject("base")
	hung := startServer(t, withPlugins(faultyPlugin(t, "hang", "hang")))
	hp := hung.newProject("hung")

	const warmup, n = 30, 200
	var without, with []time.Duration
	for i := 0; i < warmup+n; i++ {
		a, b := ingestOnce(t, base, bp, i), ingestOnce(t, hung, hp, i)
		if i >= warmup {
			without, with = append(without, a), append(with, b)
		}
	}
	p50without, p50with := median(without), median(with)
	t.Logf("ingest p50 without plugins %s, with a hanging plugin %s", p50without, p50with)
	if p50with > 2*p50without+2*time.Millisecond {
		t.Fatalf("ingest p50 with a hanging plugin %s, without %s", p50with, p50without)
	}
	eventually(t, 10*time.Second, func() string {
		info := hung.plugins()["hang"]
		if info["state"] != core.PluginRunning || info["errors"].(float64) == 0 || !strings.Contains(fmt.Sprint(info["last_error"]), "no answer within") {
			return fmt.Sprintf("hanging plugin: %v", info)
		}
		return ""
	})
	if !strings.Contains(string(hung.do("GET", "/metrics", "", nil).Raw), `leadhub_plugin_timeouts_total{method="enrich",plugin="hang"}`) {
		t.Fatal("no timeout metric")
	}
}

// Plugins that panic, answer garbage or too much, or talk on stdout before
// the handshake are contained: each is reported in /v1/plugins, and a
// well-behaved plugin beside them keeps working.
func TestMisbehavingPluginsAreContained(t *testing.T) {
	dir := t.TempDir()
	noisy := filepath.Join(dir, "noisy")
	script := "#!/bin/sh\necho 'a banner on stdout before the handshake'\nexec " + pluginBin(t, "emailnorm") + "\n"
	if err := os.WriteFile(noisy, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, withPlugins(
		faultyPlugin(t, "panicky", "panic"),
		faultyPlugin(t, "huge", "huge"),
		config.Plugin{Name: "garbage", Path: pluginBin(t, "garbage")},
		config.Plugin{Name: "noisy", Path: noisy},
		faultyPlugin(t, "stdout", "ok"), // prints before Serve; the SDK copes
		config.Plugin{Name: "emailnorm", Path: pluginBin(t, "emailnorm")},
	))
	p := s.newProject("contained")
	lead := field(s.ingest(p, "u1", map[string]any{"email": "ann@acme-corp.io"}), "lead", "id").(string)

	want := map[string]string{
		"panicky": "panic as configured",
		"huge":    "ResourceExhausted",
		"garbage": "decode attributes patch",
	}
	eventually(t, 30*time.Second, func() string {
		infos := s.plugins()
		for name, msg := range want {
			i := infos[name]
			if i["state"] != core.PluginRunning || i["errors"].(float64) == 0 || !strings.Contains(fmt.Sprint(i["last_error"]), msg) {
				return fmt.Sprintf("%s: %v", name, i)
			}
		}
		if i := infos["noisy"]; i["state"] != core.PluginDisabled || !strings.Contains(fmt.Sprint(i["last_error"]), "a banner on stdout") {
			return fmt.Sprintf("noisy: %v", i)
		}
		l := s.must(200, "GET", p.leadsPath+"/"+lead, p.Agent, nil)
		if field(l, "attributes", "email_domain") != "acme-corp.io" || field(l, "attributes", "faulty_seen") != true {
			return fmt.Sprintf("lead not enriched by the healthy plugins: %v", l["attributes"])
		}
		return ""
	})
	l := s.must(200, "GET", p.leadsPath+"/"+lead, p.Agent, nil)
	if _, ok := l["attributes"].(map[string]any)["huge"]; ok {
		t.Fatal("a huge patch was applied")
	}

	// Re-enabling is for the server's admin key; it starts the plugin again
	// (the banner makes it fail again).
	s.must(403, "POST", "/v1/plugins/noisy/enable", p.Admin, nil)
	s.must(404, "POST", "/v1/plugins/nope/enable", testAdminKey, nil)
	s.must(403, "GET", "/v1/plugins", p.Admin, nil)
	before := s.plugins()["noisy"]["restarts"].(float64)
	if body := s.must(200, "POST", "/v1/plugins/noisy/enable", testAdminKey, nil); body["enabled"] != true {
		t.Fatalf("enable: %v", body)
	}
	if after := s.plugins()["noisy"]["restarts"].(float64); after <= before {
		t.Fatalf("restarts %v after enable, %v before", after, before)
	}
}

// A disabled plugin's jobs wait for it; re-enabling works them off.
func TestReenabledPluginCatchesUp(t *testing.T) {
	sink := filepath.Join(t.TempDir(), "events.jsonl")
	bin := filepath.Join(t.TempDir(), "sink")
	s := startServer(t, withPlugins(config.Plugin{Name: "sink", Path: bin, Config: map[string]any{"path": sink}}))
	if info := s.plugins()["sink"]; info["state"] == core.PluginRunning {
		t.Fatalf("a missing binary runs: %v", info)
	}
	eventually(t, 15*time.Second, func() string {
		if st := s.plugins()["sink"]["state"]; st != core.PluginDisabled {
			return fmt.Sprint("state ", st)
		}
		return ""
	})
	// It never described itself, so no job names it yet; install it and
	// enable it, then what follows reaches it.
	raw, err := os.ReadFile(pluginBin(t, "filesink"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	s.must(200, "POST", "/v1/plugins/sink/enable", testAdminKey, nil)
	if st := s.plugins()["sink"]["state"]; st != core.PluginRunning {
		t.Fatalf("after enable: %v", st)
	}
	p := s.newProject("late")
	s.ingest(p, "u1", map[string]any{"fullname": "Late Lead"})
	eventually(t, 15*time.Second, func() string {
		if m := missingFromSink(t, s, p, sink); len(m) > 0 {
			return fmt.Sprintf("sink lacks %v", m)
		}
		return ""
	})

	// Now break it for good: killed, then unable to start, it is disabled
	// after 3 crashes. Events keep coming; their jobs wait (for 10 minutes
	// at a time) rather than fail.
	if err := os.WriteFile(bin+".broken", []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".broken", bin); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.srv.plugins.PID("sink"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() string {
		if st := s.plugins()["sink"]["state"]; st != core.PluginDisabled {
			return fmt.Sprint("state ", st)
		}
		return ""
	})
	for i := 0; i < 5; i++ {
		s.ingest(p, fmt.Sprint("while-disabled-", i), map[string]any{"fullname": "Waiting"})
	}
	time.Sleep(time.Second) // the jobs are tried once and put off
	if m := missingFromSink(t, s, p, sink); len(m) == 0 {
		t.Fatal("a disabled sink received events")
	}
	// Fixed and re-enabled, it gets what waited at once, not in 10 minutes.
	if err := os.WriteFile(bin+".fixed", raw, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".fixed", bin); err != nil {
		t.Fatal(err)
	}
	s.must(200, "POST", "/v1/plugins/sink/enable", testAdminKey, nil)
	eventually(t, 15*time.Second, func() string {
		if m := missingFromSink(t, s, p, sink); len(m) > 0 {
			return fmt.Sprintf("sink lacks %d events", len(m))
		}
		return ""
	})
}

// The plugin of docs/plugins.md compiles, passes the test shown beside it,
// stays under 30 lines, and tags a lead when Leadhub runs it.
func TestPluginsDocExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	doc, err := os.ReadFile("../../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for rest := string(doc); ; {
		_, after, ok := strings.Cut(rest, "```go\n")
		if !ok {
			break
		}
		code, tail, _ := strings.Cut(after, "```")
		blocks, rest = append(blocks, code), tail
	}
	if len(blocks) < 2 {
		t.Fatalf("%d Go blocks in docs/plugins.md, want the plugin and its test", len(blocks))
	}
	if n := strings.Count(strings.TrimSpace(blocks[0]), "\n") + 1; n >= 30 {
		t.Fatalf("the example plugin has %d lines", n)
	}
	sdkDir, err := filepath.Abs("../../sdk")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(sdkDir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"main.go":      blocks[0],
		"main_test.go": blocks[1],
		"go.sum":       string(sum),
		"go.mod": "module example.com/vip\n\ngo 1.26.0\n\nrequire github.com/leadhub/leadhub/sdk v0.0.0\n\n" +
			"replace github.com/leadhub/leadhub/sdk => " + sdkDir + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "vip")
	for _, args := range [][]string{{"test", "-count=1", "."}, {"build", "-o", bin, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// The module's other requirements come from the SDK's, already in
		// the module cache.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}

	s := startServer(t, withPlugins(config.Plugin{Name: "vip", Path: bin}))
	p := s.newProject("docs")
	big := field(s.ingest(p, "u1", map[string]any{"email": "Ann@BigCustomer.com"}), "lead", "id").(string)
	small := field(s.ingest(p, "u2", map[string]any{"email": "bob@small.io"}), "lead", "id").(string)
	eventually(t, 15*time.Second, func() string {
		if tags := field(s.must(200, "GET", p.leadsPath+"/"+big, p.Agent, nil), "tags"); fmt.Sprint(tags) != "[vip]" {
			return fmt.Sprintf("tags %v", tags)
		}
		return ""
	})
	if tags := field(s.must(200, "GET", p.leadsPath+"/"+small, p.Agent, nil), "tags"); fmt.Sprint(tags) != "[]" {
		t.Fatalf("a lead of another domain got tags %v", tags)
	}
}

// children returns the pids whose parent is pid.
func children(t testing.TB, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			out = append(out, c)
		}
	}
	return out
}

func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// kill -9 of the real `leadhub serve` leaves no plugin process behind. The
// plugins come from the YAML file and from LEADHUB_PLUGINS_DIR.
func TestKilledLeadhubLeavesNoPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	pdir := filepath.Join(dir, "plugins")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"emailnorm", "dupemail"} {
		if err := os.Symlink(pluginBin(t, name), filepath.Join(pdir, name)); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := pluginhost.FileSHA256(pluginBin(t, "filesink"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "leadhub.yaml")
	yaml := fmt.Sprintf("plugins:\n  - name: sink\n    path: %s\n    sha256: %s\n    timeout: 1s\n    config:\n      path: %s\n",
		pluginBin(t, "filesink"), sum, filepath.Join(dir, "events.jsonl"))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	proc := startProcess(t, "LEADHUB_CONFIG="+cfgPath, "LEADHUB_PLUGINS_DIR="+pdir,
		"LEADHUB_DATABASE_URL=sqlite:"+filepath.Join(dir, "leadhub.db"), "LEADHUB_ADMIN_KEY="+testAdminKey)
	c := proc.client()
	infos := c.plugins()
	for _, name := range []string{"sink", "emailnorm", "dupemail"} {
		if infos[name]["state"] != core.PluginRunning {
			t.Fatalf("%s: %v\nlogs:\n%s", name, infos[name], proc.Logs())
		}
	}
	kids := children(t, proc.cmd.Process.Pid)
	if len(kids) != 3 {
		t.Fatalf("%d plugin processes, want 3: %v", len(kids), kids)
	}
	proc.kill()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range kids {
		for running(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("plugin process %d outlived leadhub", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// benchLeads creates n leads (with a company domain each, as emailnorm
// turns into a company name) and returns the store, the project and the
// leads' ids. Their jobs wait in the queue, which is not started.
func benchLeads(b *testing.B, n int, plugins ...config.Plugin) (*benchEnv, []string) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.DatabaseURL = testdb.SQLiteURL(b)
	cfg.Plugins = plugins
	m := metrics.New(prometheus.NewRegistry())
	disp := &dispatcher{dialect: jobs.SQLite}
	s, err := openStoreWithHook(ctx, cfg, m, disp, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	queue := jobs.New(s.DB(), jobs.SQLite, jobs.Options{ReadDB: s.ReadDB(), Logger: log, PollInterval: 20 * time.Millisecond})
	disp.queue = queue
	host, err := startPlugins(ctx, cfg, s, disp, queue, m, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopPlugins(host, log) })
	proj, _, err := s.CreateProject(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				email := fmt.Sprintf("person%d@company%d.io", i, i%500)
				r, err := s.IngestRequest(ctx, proj.ID, core.Ingest{UserID: fmt.Sprint("u", i), Actor: "bench",
					Lead: core.LeadFields{Email: &email}})
				if err != nil {
					b.Error(err)
					return
				}
				ids[i] = r.Lead.ID
			}
		}()
	}
	wg.Wait()
	return &benchEnv{s: s, queue: queue, host: host, project: proj.ID}, ids
}

type benchEnv struct {
	s       *store.Store
	queue   *jobs.Queue
	host    *pluginhost.Host
	project string
}

// processCPU is the CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the CPU time a running child process has used, from
// /proc/<pid>/stat (in clock ticks of 10 ms).
func childCPU(pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(raw, ')')
	f := strings.Fields(string(raw[i+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkUpdateLeadCeiling is the store alone applying the patches
// emailnorm makes (three attributes and a company) from 128 goroutines: the
// ceiling BenchmarkEnrichEndToEnd works under, measured in the same run.
func BenchmarkUpdateLeadCeiling(b *testing.B) {
	if testing.Short() {
		b.Skip("slow")
	}
	env, ids := benchLeads(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 128; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += 128 {
				company := fmt.Sprint("Company", i%500)
				_, err := env.s.UpdateLead(ctx, env.project, ids[i], core.LeadPatch{Fields: core.LeadFields{Company: &company},
					Attributes: map[string]any{"email_domain": fmt.Sprintf("company%d.io", i%500), "email_free": nil, "email_disposable": nil}}, "plugin:bench")
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "leads/s")
}

// BenchmarkEnrichEndToEnd measures enrichment from job to committed patch:
// b.N leads are created with their emailnorm jobs queued while the queue is
// stopped; the timer runs from the queue's start until every job is done
// (each lead then has attributes.email_domain, checked after the timer).
//
//	go test -run '^$' -bench EnrichEndToEnd -benchtime 20000x ./cmd/leadhub/
func BenchmarkEnrichEndToEnd(b *testing.B) {
	if testing.Short() {
		b.Skip("builds plugin binaries")
	}
	ctx := context.Background()
	env, _ := benchLeads(b, b.N, config.Plugin{Name: "emailnorm", Path: pluginBin(b, "emailnorm")})
	s, queue := env.s, env.queue
	kind := pluginhost.JobKind("enricher", "emailnorm")
	pluginPID := env.host.PID("emailnorm")

	b.ResetTimer()
	start := time.Now()
	cpu0, plugin0 := processCPU(b), childCPU(pluginPID)
	if err := queue.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for {
		// Cheaper than queue.Stats, which groups the whole table.
		var left int
		if err := s.ReadDB().QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE kind = ? AND due_at IS NOT NULL", kind).Scan(&left); err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu, pluginCPU := processCPU(b)-cpu0, childCPU(pluginPID)-plugin0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "leads/s")
	// CPU time per lead, of leadhub and of the plugin process: what the
	// work costs whatever else the machine runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "host-cpu-µs/lead")
	b.ReportMetric(float64(pluginCPU.Microseconds())/float64(b.N), "plugin-cpu-µs/lead")
	stop, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = queue.Stop(stop)

	page, err := s.Leads(ctx, env.project, core.LeadFilter{Limit: 500})
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range page.Items {
		if l.Attributes["email_domain"] == nil {
			b.Fatalf("lead %s not enriched: %v", l.ID, l.Attributes)
		}
	}
	if st, _ := queue.Stats(ctx); st[kind].Discarded > 0 {
		b.Fatalf("%d jobs discarded", st[kind].Discarded)
	}
}
