package pluginhost_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/pluginhost"
	"github.com/leadhub/leadhub/internal/testplugins"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testplugins.Cleanup()
	os.Exit(code)
}

// pluginBin returns the path of a test plugin (testdata/<name>) or a bundled
// one (plugins/<name>), building them all on first use.
func pluginBin(t testing.TB, name string) string { t.Helper(); return testplugins.Path(t, name) }

// fakeStore is an in-memory pluginhost.Store and Suggester.
type fakeStore struct {
	mu          sync.Mutex
	leads       map[string]*core.Lead
	events      map[string]core.Event
	updates     []update
	suggestions []core.Suggestion
	failUpdates error
}

type update struct {
	ProjectID, LeadID, Actor string
	Patch                    core.LeadPatch
}

func newFakeStore() *fakeStore {
	return &fakeStore{leads: map[string]*core.Lead{}, events: map[string]core.Event{}}
}

func (s *fakeStore) addLead(l core.Lead) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.Attributes == nil {
		l.Attributes = map[string]any{}
	}
	if l.Status == "" {
		l.Status = core.LeadActive
	}
	s.leads[l.ID] = &l
}

func (s *fakeStore) addEvent(ev core.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[ev.ID] = ev
}

func (s *fakeStore) lead(projectID, id string) (*core.Lead, bool) {
	l, ok := s.leads[id]
	if !ok || l.ProjectID != projectID {
		return nil, false
	}
	return l, true
}

func (s *fakeStore) Lead(_ context.Context, projectID, id string) (*core.Lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lead(projectID, id)
	if !ok {
		return nil, core.NotFound("lead")
	}
	c := *l
	return &c, nil
}

func (s *fakeStore) match(projectID string, f func(*core.Lead) bool) []core.Lead {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []core.Lead{}
	for _, l := range s.leads {
		if l.ProjectID == projectID && f(l) {
			out = append(out, *l)
		}
	}
	slices.SortFunc(out, func(a, b core.Lead) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *fakeStore) LeadsByID(_ context.Context, projectID string, ids []string) ([]core.Lead, error) {
	return s.match(projectID, func(l *core.Lead) bool { return slices.Contains(ids, l.ID) }), nil
}

func (s *fakeStore) LeadsByEmail(_ context.Context, projectID, email string) ([]core.Lead, error) {
	return s.match(projectID, func(l *core.Lead) bool { return email != "" && strings.EqualFold(l.Email, email) }), nil
}

func (s *fakeStore) LeadsByCanonicalEmail(_ context.Context, projectID, email string) ([]core.Lead, error) {
	c := core.CanonicalEmail(email)
	return s.match(projectID, func(l *core.Lead) bool { return c != "" && core.CanonicalEmail(l.Email) == c }), nil
}

func (s *fakeStore) LeadsByPhone(_ context.Context, projectID, phone string) ([]core.Lead, error) {
	n := core.NormalizePhone(phone)
	return s.match(projectID, func(l *core.Lead) bool { return n != "" && core.NormalizePhone(l.Phone) == n }), nil
}

func (s *fakeStore) LeadByUserID(_ context.Context, projectID, userID string) (*core.Lead, error) {
	ls := s.match(projectID, func(l *core.Lead) bool { return slices.Contains(l.UserIDs, userID) })
	if len(ls) == 0 {
		return nil, core.NotFound("lead")
	}
	return &ls[0], nil
}

func (s *fakeStore) EventsByID(_ context.Context, ids []string) ([]core.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []core.Event
	for _, id := range ids {
		if ev, ok := s.events[id]; ok {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (s *fakeStore) UpdateLead(_ context.Context, projectID, id string, p core.LeadPatch, actor string) (*core.Lead, error) {
	if err := core.ValidateLeadPatch(&p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failUpdates != nil {
		return nil, s.failUpdates
	}
	l, ok := s.lead(projectID, id)
	if !ok {
		return nil, core.NotFound("lead")
	}
	ch := core.Changes{}
	core.ApplyFields(l, p.Fields, false, ch)
	l.Attributes = core.MergeAttributes(l.Attributes, p.Attributes, ch)
	if p.Tags != nil {
		l.Tags = *p.Tags
	}
	s.updates = append(s.updates, update{ProjectID: projectID, LeadID: id, Actor: actor, Patch: p})
	c := *l
	return &c, nil
}

func (s *fakeStore) SuggestDuplicate(_ context.Context, projectID string, sg core.Suggestion) (*core.Duplicate, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.lead(projectID, sg.CandidateID); !ok {
		return nil, false, core.NotFound("lead")
	}
	if sg.CandidateID == sg.LeadID {
		return nil, false, core.Invalid(map[string]string{"candidate_id": "must differ from lead_id"})
	}
	s.suggestions = append(s.suggestions, sg)
	return &core.Duplicate{ID: "d" + fmt.Sprint(len(s.suggestions))}, true, nil
}

func (s *fakeStore) Updates() []update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.updates)
}

// testLog collects the host's log lines.
type testLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// recMetrics records PluginCall outcomes.
type recMetrics struct {
	mu       sync.Mutex
	calls    map[string]int // plugin/method/outcome
	restarts map[string]int
	up       map[string]bool
}

func newRecMetrics() *recMetrics {
	return &recMetrics{calls: map[string]int{}, restarts: map[string]int{}, up: map[string]bool{}}
}

func (m *recMetrics) PluginCall(plugin, method, outcome string, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[plugin+"/"+method+"/"+outcome]++
}

func (m *recMetrics) PluginRestarted(plugin string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.restarts[plugin]++
}

func (m *recMetrics) PluginUp(plugin string, up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.up[plugin] = up
}

func (m *recMetrics) count(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[key]
}

// harness is a started Host over a fakeStore.
type harness struct {
	t       testing.TB
	h       *pluginhost.Host
	store   *fakeStore
	metrics *recMetrics
	log     *testLog
	kinds   map[string]pluginhost.Job
}

// startHost starts a host with quick timings; mutate may change the options.
func startHost(t testing.TB, specs []pluginhost.Spec, mutate ...func(*pluginhost.Options)) *harness {
	t.Helper()
	hs := &harness{t: t, store: newFakeStore(), metrics: newRecMetrics(), log: &testLog{}}
	opts := pluginhost.Options{
		Plugins:        specs,
		Store:          hs.store,
		Duplicates:     hs.store,
		Metrics:        hs.metrics,
		Logger:         slog.New(slog.NewTextHandler(io.MultiWriter(hs.log), &slog.HandlerOptions{Level: slog.LevelDebug})),
		HealthInterval: 200 * time.Millisecond,
		RestartBackoff: 50 * time.Millisecond,
		KillTimeout:    2 * time.Second,
		DisabledRetry:  time.Minute,
	}
	for _, m := range mutate {
		m(&opts)
	}
	h, err := pluginhost.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	hs.h = h
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("host log:\n%s", hs.log.String())
		}
	})
	hs.kinds = map[string]pluginhost.Job{}
	for _, k := range h.JobKinds() {
		hs.kinds[k.Name] = k
	}
	return hs
}

// info returns the plugin's record.
func (hs *harness) info(name string) core.PluginInfo {
	for _, i := range hs.h.Plugins(context.Background()) {
		if i.Name == name {
			return i
		}
	}
	hs.t.Fatalf("no plugin %s", name)
	return core.PluginInfo{}
}

// waitState waits for a plugin to reach a state.
func (hs *harness) waitState(name, state string, within time.Duration) core.PluginInfo {
	hs.t.Helper()
	deadline := time.Now().Add(within)
	for {
		i := hs.info(name)
		if i.State == state {
			return i
		}
		if time.Now().After(deadline) {
			hs.t.Fatalf("plugin %s: state %s after %s, want %s (last error %q)", name, i.State, within, state, i.LastError)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run works a batch of jobs of a job kind the way the queue would.
func (hs *harness) run(kind string, jobs ...core.Job) []core.JobResult {
	hs.t.Helper()
	k, ok := hs.kinds[kind]
	if !ok {
		hs.t.Fatalf("job kind %s not registered (have %v)", kind, hs.kinds)
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.Timeout)
	defer cancel()
	for i := range jobs {
		jobs[i].Kind = kind
		jobs[i].Target = k.Plugin
		if jobs[i].Attempt == 0 {
			jobs[i].Attempt = 1
		}
	}
	res := k.Handler(ctx, jobs)
	if len(res) != len(jobs) {
		hs.t.Fatalf("%d results for %d jobs", len(res), len(jobs))
	}
	return res
}

// seed adds a project's lead and its lead.created event, and returns a job
// for it.
func (hs *harness) seed(project, leadID, email string) core.Job {
	hs.store.addLead(core.Lead{ID: leadID, ProjectID: project, Email: email, UserIDs: []string{"u-" + leadID}})
	ev := core.Event{ID: "ev-" + leadID, ProjectID: project, LeadID: leadID, Type: core.EventLeadCreated, Actor: "key:test",
		CreatedAt: time.Now().UTC(), Data: []byte(`{"lead":{"id":"` + leadID + `"}}`)}
	hs.store.addEvent(ev)
	return core.Job{ProjectID: project, EventID: ev.ID}
}
