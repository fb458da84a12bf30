package pluginhost_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/pluginhost"
	"github.com/leadhub/leadhub/sdk"
)

func faultySpec(t testing.TB, name, mode string, extra ...map[string]any) pluginhost.Spec {
	cfg := map[string]any{"mode": mode}
	for _, e := range extra {
		for k, v := range e {
			cfg[k] = v
		}
	}
	return pluginhost.Spec{Name: name, Path: pluginBin(t, "faulty"), Timeout: 500 * time.Millisecond, Config: cfg}
}

func TestStartDescribeAndEnrich(t *testing.T) {
	hs := startHost(t, []pluginhost.Spec{faultySpec(t, "faulty", "ok"), {Name: "emailnorm", Path: pluginBin(t, "emailnorm")}})
	for _, name := range []string{"faulty", "emailnorm"} {
		i := hs.info(name)
		if i.State != core.PluginRunning || i.Version == "" || len(i.Kinds) == 0 || len(i.EventTypes) == 0 {
			t.Fatalf("%s: %+v", name, i)
		}
		if hs.h.PID(name) == 0 {
			t.Fatalf("%s: no pid", name)
		}
	}
	if got := hs.info("faulty").Kinds; strings.Join(got, ",") != "enricher,duplicate_detector" {
		t.Fatalf("faulty kinds %v", got)
	}
	for _, k := range []string{"plugin.enrich:faulty", "plugin.detect:faulty", "plugin.enrich:emailnorm"} {
		if _, ok := hs.kinds[k]; !ok {
			t.Fatalf("job kind %s not offered: %v", k, hs.kinds)
		}
	}
	if _, ok := hs.kinds["plugin.sink:emailnorm"]; ok {
		t.Fatal("a kind emailnorm does not declare is registered")
	}

	j := hs.seed("p1", "l1", "Ann@Acme-Corp.io")
	for _, r := range hs.run("plugin.enrich:emailnorm", j) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	ups := hs.store.Updates()
	if len(ups) != 1 || ups[0].Actor != "plugin:emailnorm" || ups[0].Patch.Attributes["email_domain"] != "acme-corp.io" ||
		ups[0].Patch.Fields.Company == nil || *ups[0].Patch.Fields.Company != "Acme Corp" {
		t.Fatalf("updates %+v", ups)
	}
	// The lead is enriched now: the same job again finds nothing to change.
	hs.run("plugin.enrich:emailnorm", j)
	if n := len(hs.store.Updates()); n != 1 {
		t.Fatalf("%d updates after a no-op enrichment, want 1", n)
	}
	if i := hs.info("emailnorm"); i.Calls != 2 || i.Errors != 0 {
		t.Fatalf("emailnorm counters %+v", i)
	}
	if hs.metrics.count("emailnorm/enrich/ok") != 2 || hs.metrics.count("emailnorm/describe/ok") != 1 || hs.metrics.count("emailnorm/configure/ok") != 1 {
		t.Fatalf("metrics %v", hs.metrics.calls)
	}
	// A missing event is a permanent failure; a missing lead is nothing to do.
	res := hs.run("plugin.enrich:emailnorm", core.Job{ProjectID: "p1", EventID: "nope"})
	if res[0].Err == nil || !res[0].Discard {
		t.Fatalf("missing event: %+v", res[0])
	}
}

func TestFanout(t *testing.T) {
	hs := startHost(t, []pluginhost.Spec{
		faultySpec(t, "faulty", "ok"),
		{Name: "sink", Path: pluginBin(t, "filesink"), Config: map[string]any{"path": filepath.Join(t.TempDir(), "out")}},
		{Name: "dupemail", Path: pluginBin(t, "dupemail")},
	})
	kinds := func(ev core.Event) string {
		js, err := hs.h.JobsFor(context.Background(), nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range js {
			if j.Target == "" || j.EventID != ev.ID || j.ProjectID != ev.ProjectID {
				t.Fatalf("job %+v for event %+v", j, ev)
			}
			out = append(out, j.Kind)
		}
		return strings.Join(out, " ")
	}
	ev := core.Event{ID: "e1", ProjectID: "p", LeadID: "l", Type: core.EventLeadCreated, Actor: "key:k"}
	if got, want := kinds(ev), "plugin.enrich:faulty plugin.detect:faulty plugin.sink:sink plugin.detect:dupemail"; got != want {
		t.Fatalf("lead.created: %q, want %q", got, want)
	}
	ev.Type = core.EventRequestCreated
	if got, want := kinds(ev), "plugin.sink:sink"; got != want {
		t.Fatalf("request.created: %q, want %q", got, want)
	}
	// A plugin never gets the events it caused.
	ev.Type, ev.Actor = core.EventLeadUpdated, core.PluginActor("faulty")
	if got, want := kinds(ev), "plugin.sink:sink plugin.detect:dupemail"; got != want {
		t.Fatalf("lead.updated by faulty: %q, want %q", got, want)
	}
	ev.Type, ev.Actor = core.EventDuplicateDetected, core.PluginActor("dupemail")
	if got, want := kinds(ev), "plugin.sink:sink"; got != want {
		t.Fatalf("duplicate.detected: %q, want %q", got, want)
	}
}

func TestSinkDelivers(t *testing.T) {
	out := filepath.Join(t.TempDir(), "events.jsonl")
	hs := startHost(t, []pluginhost.Spec{{Name: "sink", Path: pluginBin(t, "filesink"), Config: map[string]any{"path": out}}})
	var jobs []core.Job
	for i := 0; i < 5; i++ {
		jobs = append(jobs, hs.seed("p", "l"+string(rune('a'+i)), ""))
	}
	jobs = append(jobs, core.Job{ProjectID: "p", EventID: "gone"})
	res := hs.run("plugin.sink:sink", jobs...)
	for i, r := range res[:5] {
		if r.Err != nil {
			t.Fatalf("job %d: %v", i, r.Err)
		}
	}
	if res[5].Err == nil || !res[5].Discard {
		t.Fatalf("missing event: %+v", res[5])
	}
	got := readSink(t, out)
	if len(got) != 5 || got[0]["id"] != "ev-la" || got[0]["type"] != "lead.created" || got[0]["actor"] != "key:test" {
		t.Fatalf("sink got %v", got)
	}
	if i := hs.info("sink"); i.Calls != 1 {
		t.Fatalf("one Deliver call for the batch, got %+v", i)
	}
}

func readSink(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("sink line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestChecksum(t *testing.T) {
	bin := pluginBin(t, "emailnorm")
	sum, err := pluginhost.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	hs := startHost(t, []pluginhost.Spec{
		{Name: "good", Path: bin, SHA256: strings.ToUpper(sum)},
		{Name: "bad", Path: bin, SHA256: strings.Repeat("0", 64)},
	})
	if i := hs.info("good"); i.State != core.PluginRunning {
		t.Fatalf("good checksum: %+v", i)
	}
	i := hs.info("bad")
	if i.State != core.PluginDisabled || !strings.Contains(i.LastError, "checksum mismatch") || i.Restarts != 0 {
		t.Fatalf("bad checksum: %+v", i)
	}
	// Enabling re-checks, and refuses again.
	if err := hs.h.EnablePlugin(context.Background(), "bad"); err != nil {
		t.Fatal(err)
	}
	if i := hs.waitState("bad", core.PluginDisabled, 5*time.Second); !strings.Contains(i.LastError, "checksum mismatch") {
		t.Fatalf("after enable: %+v", i)
	}
	if err := hs.h.EnablePlugin(context.Background(), "nope"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("enable unknown: %v", err)
	}
}

// A plugin that breaks the handshake (output on stdout before go-plugin's
// line, or no plugin at all) is reported and disabled; the host carries on.
func TestHandshakeFailureIsReported(t *testing.T) {
	dir := t.TempDir()
	noisy := filepath.Join(dir, "noisy.sh")
	script := "#!/bin/sh\necho 'hello from a plugin that talks too early'\nexec " + pluginBin(t, "emailnorm") + "\n"
	if err := os.WriteFile(noisy, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	quitter := filepath.Join(dir, "quitter.sh")
	if err := os.WriteFile(quitter, []byte("#!/bin/sh\necho 'not a plugin' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hs := startHost(t, []pluginhost.Spec{
		{Name: "noisy", Path: noisy},
		{Name: "quitter", Path: quitter},
		{Name: "missing", Path: filepath.Join(dir, "does-not-exist")},
		{Name: "emailnorm", Path: pluginBin(t, "emailnorm")},
	})
	for name, want := range map[string]string{"noisy": "hello from a plugin", "quitter": "not a plugin", "missing": "does-not-exist"} {
		i := hs.waitState(name, core.PluginDisabled, 10*time.Second)
		if !strings.Contains(i.LastError, want) || i.Restarts != 2 {
			t.Errorf("%s: %q (restarts %d), want last error with %q after 2 restarts", name, i.LastError, i.Restarts, want)
		}
	}
	if i := hs.info("emailnorm"); i.State != core.PluginRunning {
		t.Fatalf("a healthy plugin beside broken ones: %+v", i)
	}
	// Jobs of a disabled plugin wait (DisabledRetry), with no call made.
	res := hs.run("plugin.sink:quitter", hs.seed("p", "l1", ""))
	if res[0].Err == nil || res[0].Discard || time.Until(res[0].RetryAt) < 30*time.Second {
		t.Fatalf("job of a disabled plugin: %+v", res[0])
	}
}

func TestKilledPluginIsRestarted(t *testing.T) {
	out := filepath.Join(t.TempDir(), "events.jsonl")
	hs := startHost(t, []pluginhost.Spec{{Name: "sink", Path: pluginBin(t, "filesink"), Config: map[string]any{"path": out}}})
	pid := hs.h.PID("sink")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Until it is back, its jobs are put off to just after the restart.
	res := hs.run("plugin.sink:sink", hs.seed("p", "l1", ""))
	if res[0].Err == nil && readSink(t, out) == nil {
		t.Fatalf("delivered nowhere: %+v", res[0])
	}
	i := hs.waitState("sink", core.PluginRunning, 10*time.Second)
	for i.Restarts != 1 {
		time.Sleep(10 * time.Millisecond)
		i = hs.waitState("sink", core.PluginRunning, 10*time.Second)
	}
	if hs.h.PID("sink") == pid || !strings.Contains(i.LastError, "exited") {
		t.Fatalf("after kill: %+v", i)
	}
	if r := hs.run("plugin.sink:sink", hs.seed("p", "l2", "")); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if hs.metrics.restarts["sink"] != 1 {
		t.Fatalf("restart metric %v", hs.metrics.restarts)
	}
}

func TestCrashLoopDisablesUntilEnabled(t *testing.T) {
	enabled := make(chan string, 1)
	hs := startHost(t, []pluginhost.Spec{faultySpec(t, "crashy", "crash")}, func(o *pluginhost.Options) {
		o.OnEnable = func(name string) { enabled <- name }
	})
	j := hs.seed("p", "l1", "a@b.io")
	for crashes := 0; crashes < 3; crashes++ {
		hs.waitState("crashy", core.PluginRunning, 10*time.Second)
		res := hs.run("plugin.enrich:crashy", j)
		if res[0].Err == nil || res[0].Discard {
			t.Fatalf("call to a crashing plugin: %+v", res[0])
		}
		deadline := time.Now().Add(10 * time.Second)
		for hs.info("crashy").State == core.PluginRunning && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	i := hs.waitState("crashy", core.PluginDisabled, 10*time.Second)
	if i.Restarts != 2 || i.Errors != 3 || !strings.Contains(i.LastError, "crash as configured") {
		t.Fatalf("disabled: %+v", i)
	}
	if err := hs.h.EnablePlugin(context.Background(), "crashy"); err != nil {
		t.Fatal(err)
	}
	if i := hs.info("crashy"); i.State != core.PluginRunning || i.Restarts != 3 {
		t.Fatalf("after enable: %+v", i)
	}
	select {
	case n := <-enabled:
		if n != "crashy" {
			t.Fatalf("OnEnable(%q)", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnEnable not called")
	}
	// Enabling a running plugin changes nothing.
	if err := hs.h.EnablePlugin(context.Background(), "crashy"); err != nil {
		t.Fatal(err)
	}
	if i := hs.info("crashy"); i.Restarts != 3 {
		t.Fatalf("enable of a running plugin restarted it: %+v", i)
	}
}

func TestHangingPluginTimesOut(t *testing.T) {
	hs := startHost(t, []pluginhost.Spec{faultySpec(t, "hang", "hang")})
	var jobs []core.Job
	for i := 0; i < 20; i++ {
		jobs = append(jobs, hs.seed("p", "l"+string(rune('a'+i)), "x@y.io"))
	}
	start := time.Now()
	res := hs.run("plugin.enrich:hang", jobs...)
	took := time.Since(start)
	// The first wave of calls times out; the rest of the batch is put off
	// rather than waited for.
	if took > 3*time.Second {
		t.Fatalf("a batch on a hanging plugin took %s", took)
	}
	for _, r := range res {
		if r.Err == nil || r.Discard {
			t.Fatalf("job on a hanging plugin: %+v", r)
		}
	}
	if n := hs.metrics.count("hang/enrich/timeout"); n == 0 || n > pluginhost.DefaultConcurrency {
		t.Fatalf("%d timeouts counted, want one wave of at most Concurrency", n)
	}
	i := hs.info("hang")
	if i.State != core.PluginRunning || !strings.Contains(i.LastError, "no answer within") {
		t.Fatalf("hanging plugin: %+v", i)
	}
}

// A plugin's misbehaviour stays its own: each is counted and reported, the
// job is retried or dropped, and the plugin keeps running.
func TestMisbehaviourIsContained(t *testing.T) {
	hs := startHost(t, []pluginhost.Spec{
		faultySpec(t, "panicky", "panic"),
		faultySpec(t, "huge", "huge"),
		faultySpec(t, "badpatch", "badpatch"),
		faultySpec(t, "badcandidate", "badcandidate"),
		{Name: "garbage", Path: pluginBin(t, "garbage"), Timeout: time.Second},
	})
	cases := []struct {
		kind, plugin string
		discard      bool
		lastErr      string
		outcome      string
	}{
		{"plugin.enrich:panicky", "panicky", false, "panic as configured", "panicky/enrich/panic"},
		{"plugin.enrich:huge", "huge", true, "ResourceExhausted", "huge/enrich/too_large"},
		{"plugin.enrich:badpatch", "badpatch", true, "patch refused", "badpatch/enrich/ok"},
		{"plugin.enrich:garbage", "garbage", true, "decode attributes patch", "garbage/enrich/invalid"},
	}
	for _, tc := range cases {
		j := hs.seed("p", "lead-"+tc.plugin, "a@b.io")
		res := hs.run(tc.kind, j)
		if res[0].Err == nil || res[0].Discard != tc.discard {
			t.Errorf("%s: %+v, want discard=%v", tc.plugin, res[0], tc.discard)
		}
		i := hs.info(tc.plugin)
		if i.State != core.PluginRunning || i.Errors != 1 || !strings.Contains(i.LastError, tc.lastErr) {
			t.Errorf("%s: %+v, want running with one error like %q", tc.plugin, i, tc.lastErr)
		}
		if hs.metrics.count(tc.outcome) != 1 {
			t.Errorf("%s: metric %s not counted: %v", tc.plugin, tc.outcome, hs.metrics.calls)
		}
	}
	if len(hs.store.Updates()) != 0 {
		t.Fatalf("a bad patch was applied: %+v", hs.store.Updates())
	}
	// A panic is retried a few times, then given up.
	res := hs.run("plugin.enrich:panicky", core.Job{ProjectID: "p", EventID: "ev-lead-panicky", Attempt: 5})
	if !res[0].Discard {
		t.Fatalf("fifth panic: %+v", res[0])
	}

	// Candidates that are no lead, or the lead itself, are refused one by
	// one; the job is done.
	hs.seed("p", "other", "a@b.io")
	res = hs.run("plugin.detect:badcandidate", hs.seed("p", "examined", "a@b.io"))
	if res[0].Err != nil {
		t.Fatalf("detect with bad candidates: %+v", res[0])
	}
	if i := hs.info("badcandidate"); i.Errors != 2 || !strings.Contains(i.LastError, "refused") {
		t.Fatalf("badcandidate: %+v", i)
	}
}

// The host API answers only about the project of the event being handled.
func TestHostAPIStaysInTheEventsProject(t *testing.T) {
	hs := startHost(t, []pluginhost.Spec{faultySpec(t, "probe", "probe", map[string]any{"probe_project": "p2"})})
	hs.seed("p2", "theirs", "same@x.io")
	hs.seed("p1", "mine-too", "same@x.io")
	res := hs.run("plugin.enrich:probe", hs.seed("p1", "mine", "same@x.io"))
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	ups := hs.store.Updates()
	if len(ups) != 1 || ups[0].Patch.Attributes["probe"] != "refused" || ups[0].Patch.Attributes["same_email"] != json.Number("2") {
		t.Fatalf("probe: %+v", ups)
	}
}

func TestSpecsFromDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("zeta", 0o755)
	write("alpha.bin", 0o755)
	write("README.md", 0o644)
	write(".hidden", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	specs, err := pluginhost.SpecsFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Name != "alpha" || specs[1].Name != "zeta" || specs[0].Timeout != pluginhost.DefaultTimeout {
		t.Fatalf("specs %+v", specs)
	}
	if _, err := pluginhost.SpecsFromDir(filepath.Join(dir, "nope")); err == nil {
		t.Fatal("a missing folder is an error")
	}
}

func TestNewRefusesBadSpecs(t *testing.T) {
	for _, specs := range [][]pluginhost.Spec{
		{{Name: "", Path: "/bin/true"}},
		{{Name: "a", Path: ""}},
		{{Name: "a", Path: "/bin/true"}, {Name: "a", Path: "/bin/true"}},
	} {
		if _, err := pluginhost.New(pluginhost.Options{Plugins: specs}); err == nil {
			t.Errorf("specs %+v accepted", specs)
		}
	}
}

func TestJobKindName(t *testing.T) {
	if got := pluginhost.JobKind(sdk.KindEventSink, "slack"); got != "plugin.sink:slack" {
		t.Fatal(got)
	}
}
