package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/leadhub/leadhub/sdk"
	"github.com/leadhub/leadhub/sdk/sdktest"
)

// testPlugin is a plugin of every kind whose behaviour each test sets.
type testPlugin struct {
	sdk.Base
	desc      sdk.Description
	configure func(ctx context.Context, config []byte, host sdk.HostAPI) error
	enrich    func(ctx context.Context, ev sdk.Event, lead sdk.Lead) (sdk.Patch, error)
	detect    func(ctx context.Context, ev sdk.Event, lead sdk.Lead) ([]sdk.Candidate, error)
	deliver   func(ctx context.Context, events []sdk.Event) error
}

func (p *testPlugin) Describe() sdk.Description {
	if p.desc.Name != "" {
		return p.desc
	}
	return sdk.Description{
		Name:       "test",
		Version:    "1.2.3",
		Kinds:      []sdk.Kind{sdk.KindEnricher, sdk.KindDuplicateDetector, sdk.KindEventSink},
		EventTypes: []string{sdk.EventLeadCreated, sdk.EventLeadUpdated},
	}
}

func (p *testPlugin) Configure(ctx context.Context, config []byte, host sdk.HostAPI) error {
	if p.configure != nil {
		return p.configure(ctx, config, host)
	}
	return nil
}

func (p *testPlugin) Enrich(ctx context.Context, ev sdk.Event, lead sdk.Lead) (sdk.Patch, error) {
	if p.enrich != nil {
		return p.enrich(ctx, ev, lead)
	}
	return sdk.Patch{}, nil
}

func (p *testPlugin) Detect(ctx context.Context, ev sdk.Event, lead sdk.Lead) ([]sdk.Candidate, error) {
	if p.detect != nil {
		return p.detect(ctx, ev, lead)
	}
	return nil, nil
}

func (p *testPlugin) Deliver(ctx context.Context, events []sdk.Event) error {
	if p.deliver != nil {
		return p.deliver(ctx, events)
	}
	return nil
}

var t0 = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

func sampleLead() sdk.Lead {
	return sdk.Lead{
		ID:        "lead-1",
		ProjectID: "proj-1",
		UserIDs:   []string{"u-1", "u-2"},
		Fullname:  "Ann",
		Lastname:  "Lee",
		Email:     "Ann.Lee+crm@Gmail.com",
		Phone:     "+1 555 0100",
		Company:   "Acme",
		Attributes: map[string]any{
			"plan":   "pro",
			"seats":  json.Number("42"),
			"ratio":  json.Number("1.5"),
			"trial":  true,
			"nested": map[string]any{"a": []any{json.Number("1"), "two", nil}},
		},
		Tags:          []string{"vip", "beta"},
		Status:        sdk.StatusActive,
		RequestsCount: 7,
		CreatedAt:     t0,
		UpdatedAt:     t0.Add(time.Hour),
		LastSeenAt:    t0.Add(2 * time.Hour),
	}
}

func sampleEvent() sdk.Event {
	return sdk.Event{
		ID:        "ev-1",
		Type:      sdk.EventLeadUpdated,
		ProjectID: "proj-1",
		LeadID:    "lead-1",
		RequestID: "req-1",
		Actor:     "key:abc",
		CreatedAt: t0,
		Changes: map[string]sdk.Change{
			"email": {From: json.RawMessage(`"old@x.io"`), To: json.RawMessage(`"Ann.Lee+crm@Gmail.com"`)},
		},
		Data: json.RawMessage(`{"lead":{"id":"lead-1","project_id":"proj-1","email":"Ann.Lee+crm@Gmail.com","attributes":{"seats":42},"merged_into":null,"last_seen_at":null}}`),
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDescribe(t *testing.T) {
	c := sdktest.Start(t, &testPlugin{}, nil)
	d, err := c.Describe(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Description{
		Name:            "test",
		Version:         "1.2.3",
		Kinds:           []sdk.Kind{sdk.KindEnricher, sdk.KindDuplicateDetector, sdk.KindEventSink},
		EventTypes:      []string{sdk.EventLeadCreated, sdk.EventLeadUpdated},
		ProtocolVersion: sdk.ProtocolVersion,
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("describe = %+v, want %+v", d, want)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if !d.Wants(sdk.EventLeadCreated) || d.Wants(sdk.EventLeadMerged) {
		t.Fatalf("Wants is wrong for %v", d.EventTypes)
	}
}

func TestEnrichRoundTrip(t *testing.T) {
	var gotEv sdk.Event
	var gotLead sdk.Lead
	patch := sdk.Patch{
		Fullname: new("Ann Marie"),
		Company:  new(""),
		Attributes: map[string]any{
			"plan":   nil,
			"score":  json.Number("0.75"),
			"nested": map[string]any{"b": "x"},
		},
		AddTags: []string{"enriched"},
	}
	p := &testPlugin{enrich: func(_ context.Context, ev sdk.Event, lead sdk.Lead) (sdk.Patch, error) {
		gotEv, gotLead = ev, lead
		return patch, nil
	}}
	c := sdktest.Start(t, p, nil)
	got, err := c.Enrich(ctxT(t), sampleEvent(), sampleLead())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, patch) {
		t.Errorf("patch = %#v, want %#v", got, patch)
	}
	if !reflect.DeepEqual(gotLead, sampleLead()) {
		t.Errorf("plugin got lead %#v, want %#v", gotLead, sampleLead())
	}
	if !reflect.DeepEqual(gotEv, sampleEvent()) {
		t.Errorf("plugin got event %#v, want %#v", gotEv, sampleEvent())
	}

	// An empty patch comes back empty.
	p.enrich = nil
	got, err = c.Enrich(ctxT(t), sampleEvent(), sdk.Lead{ID: "x", ProjectID: "proj-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsEmpty() {
		t.Errorf("patch = %#v, want empty", got)
	}
}

func TestEventDecodeData(t *testing.T) {
	d, err := sampleEvent().DecodeData()
	if err != nil {
		t.Fatal(err)
	}
	if d.Lead == nil || d.Lead.Email != "Ann.Lee+crm@Gmail.com" || d.Lead.Attributes["seats"] != json.Number("42") {
		t.Fatalf("data lead = %+v", d.Lead)
	}
	if !d.Lead.LastSeenAt.IsZero() || d.Lead.MergedInto != "" {
		t.Fatalf("null fields decoded as %v, %q", d.Lead.LastSeenAt, d.Lead.MergedInto)
	}
	merged := sdk.Event{ID: "e", Data: json.RawMessage(`{"lead":{"id":"a"},"merged_ids":["b","c"]}`)}
	d, err = merged.DecodeData()
	if err != nil {
		t.Fatal(err)
	}
	if d.Lead.ID != "a" || !reflect.DeepEqual(d.MergedIDs, []string{"b", "c"}) {
		t.Fatalf("merge data = %+v", d)
	}
	if _, err := (sdk.Event{Data: json.RawMessage(`[1]`)}).DecodeData(); err == nil {
		t.Fatal("array data decoded without error")
	}
	if d, err := (sdk.Event{}).DecodeData(); err != nil || d.Lead != nil {
		t.Fatalf("empty data = %+v, %v", d, err)
	}
}

func TestConfigure(t *testing.T) {
	var got []byte
	p := &testPlugin{configure: func(_ context.Context, config []byte, host sdk.HostAPI) error {
		got = config
		if host == nil {
			return errors.New("no host API")
		}
		if strings.Contains(string(config), "bad") {
			return errors.New("bad config")
		}
		return nil
	}}
	sdktest.Start(t, p, nil, sdktest.WithConfig(map[string]string{"url": "http://x"}))
	if string(got) != `{"url":"http://x"}` {
		t.Fatalf("config = %q", got)
	}

	c := sdktest.Start(t, p, nil, sdktest.Unconfigured())
	_, err := c.Enrich(ctxT(t), sampleEvent(), sampleLead())
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("enrich before configure: %v, want FailedPrecondition", err)
	}
	if err := c.Configure(ctxT(t), []byte(`{"bad":true}`)); err == nil || !strings.Contains(err.Error(), "bad config") {
		t.Fatalf("configure = %v, want bad config", err)
	}
	if _, err := c.Enrich(ctxT(t), sampleEvent(), sampleLead()); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("enrich after failed configure: %v, want FailedPrecondition", err)
	}
	if err := c.Configure(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if got != nil {
		t.Fatalf("empty config reached the plugin as %q, want nil", got)
	}
	if _, err := c.Enrich(ctxT(t), sampleEvent(), sampleLead()); err != nil {
		t.Fatal(err)
	}
}

func TestDetectCallsHostThroughBroker(t *testing.T) {
	other := sampleLead()
	other.ID, other.Email, other.UserIDs, other.Phone = "lead-2", "annlee@gmail.com", []string{"u-9"}, "+1 (555) 0100"
	foreign := sampleLead()
	foreign.ID, foreign.ProjectID = "lead-3", "proj-2"
	host := sdktest.NewHost(sampleLead(), other, foreign)

	var api sdk.HostAPI
	p := &testPlugin{
		configure: func(_ context.Context, _ []byte, h sdk.HostAPI) error { api = h; return nil },
		detect: func(ctx context.Context, ev sdk.Event, lead sdk.Lead) ([]sdk.Candidate, error) {
			var out []sdk.Candidate
			add := func(reason string) func([]sdk.Lead, error) error {
				return func(ls []sdk.Lead, err error) error {
					if err != nil {
						return err
					}
					for _, l := range ls {
						out = append(out, sdk.Candidate{LeadID: l.ID, Score: 0.5, Reason: reason})
					}
					return nil
				}
			}
			if err := add("")(api.FindLeadsByEmail(ctx, ev.ProjectID, strings.ToUpper(lead.Email))); err != nil {
				return nil, err
			}
			if err := add("canonical")(api.FindLeadsByNormalizedEmail(ctx, ev.ProjectID, sdk.CanonicalEmail(lead.Email))); err != nil {
				return nil, err
			}
			if err := add("phone")(api.FindLeadsByPhone(ctx, ev.ProjectID, "15550100")); err != nil {
				return nil, err
			}
			l, err := api.FindLeadByUserID(ctx, ev.ProjectID, "u-9")
			if err != nil {
				return nil, err
			}
			out = append(out, sdk.Candidate{LeadID: l.ID, Score: 1, Reason: "user id"})
			if l, err := api.GetLead(ctx, ev.ProjectID, "lead-2"); err != nil || l.Email != other.Email {
				return nil, errors.New("GetLead did not find lead-2")
			}
			if _, err := api.GetLead(ctx, ev.ProjectID, "lead-3"); !errors.Is(err, sdk.ErrNotFound) {
				return nil, errors.New("GetLead crossed projects or missed ErrNotFound: " + errString(err))
			}
			if _, err := api.FindLeadsByEmail(ctx, "proj-2", lead.Email); err == nil {
				return nil, errors.New("a host call for another project than the event's went through")
			}
			return out, nil
		},
	}
	c := sdktest.Start(t, p, host)
	got, err := c.Detect(ctxT(t), sampleEvent(), sampleLead())
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.Candidate{
		{LeadID: "lead-1", Score: 0.5},
		{LeadID: "lead-1", Score: 0.5, Reason: "canonical"},
		{LeadID: "lead-2", Score: 0.5, Reason: "canonical"},
		{LeadID: "lead-1", Score: 0.5, Reason: "phone"},
		{LeadID: "lead-2", Score: 0.5, Reason: "phone"},
		{LeadID: "lead-2", Score: 1, Reason: "user id"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("candidates = %+v, want %+v", got, want)
	}
	calls := host.Calls()
	if len(calls) != 6 {
		t.Fatalf("host calls = %+v", calls)
	}
	for _, c := range calls {
		if c.ProjectID != "proj-1" {
			t.Errorf("host call %+v is not for the event's project", c)
		}
	}

	// Host errors reach the plugin, and the plugin's error reaches the host.
	host.FailWith(errors.New("database is down"))
	_, err = c.Detect(ctxT(t), sampleEvent(), sampleLead())
	if err == nil || !strings.Contains(err.Error(), "database is down") {
		t.Fatalf("detect with failing host = %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestDeliver(t *testing.T) {
	var mu sync.Mutex
	var got []sdk.Event
	fail := false
	p := &testPlugin{deliver: func(_ context.Context, events []sdk.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("endpoint said 503")
		}
		got = append(got, events...)
		return nil
	}}
	c := sdktest.Start(t, p, nil)
	batch := []sdk.Event{sampleEvent(), {ID: "ev-2", Type: sdk.EventLeadCreated, ProjectID: "proj-1", CreatedAt: t0}, {ID: "ev-3"}}
	if err := c.Deliver(ctxT(t), batch); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, batch) {
		t.Fatalf("delivered %#v, want %#v", got, batch)
	}
	fail = true
	if err := c.Deliver(ctxT(t), batch); status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), "503") {
		t.Fatalf("failing deliver = %v", err)
	}
}

func TestUndeclaredKindIsUnimplemented(t *testing.T) {
	p := &testPlugin{desc: sdk.Description{Name: "only-enricher", Kinds: []sdk.Kind{sdk.KindEnricher}}}
	c := sdktest.Start(t, p, nil)
	if _, err := c.Detect(ctxT(t), sampleEvent(), sampleLead()); status.Code(err) != codes.Unimplemented {
		t.Fatalf("detect = %v, want Unimplemented", err)
	}
	if err := c.Deliver(ctxT(t), nil); status.Code(err) != codes.Unimplemented {
		t.Fatalf("deliver = %v, want Unimplemented", err)
	}
	if _, err := c.Enrich(ctxT(t), sampleEvent(), sampleLead()); err != nil {
		t.Fatal(err)
	}
}

func TestPanicBecomesInternalAndPluginStaysUp(t *testing.T) {
	p := &testPlugin{enrich: func(_ context.Context, _ sdk.Event, lead sdk.Lead) (sdk.Patch, error) {
		if lead.ID == "boom" {
			var m map[string]int
			m["x"]++ // nil map write
		}
		return sdk.Patch{AddTags: []string{"ok"}}, nil
	}}
	c := sdktest.Start(t, p, nil)
	_, err := c.Enrich(ctxT(t), sampleEvent(), sdk.Lead{ID: "boom"})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("enrich = %v, want Internal panic", err)
	}
	got, err := c.Enrich(ctxT(t), sampleEvent(), sampleLead())
	if err != nil || len(got.AddTags) != 1 {
		t.Fatalf("enrich after panic = %+v, %v", got, err)
	}
}

func TestOversizeMessagesRefused(t *testing.T) {
	big := strings.Repeat("x", sdk.MaxMessageSize+1)
	p := &testPlugin{enrich: func(_ context.Context, _ sdk.Event, lead sdk.Lead) (sdk.Patch, error) {
		if lead.ID == "big" {
			return sdk.Patch{Attributes: map[string]any{"blob": big}}, nil
		}
		return sdk.Patch{}, nil
	}}
	c := sdktest.Start(t, p, nil)
	if _, err := c.Enrich(ctxT(t), sampleEvent(), sdk.Lead{ID: "big"}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversize response: %v, want ResourceExhausted", err)
	}
	ev := sampleEvent()
	ev.Data = json.RawMessage(`"` + big + `"`)
	if err := c.Deliver(ctxT(t), []sdk.Event{ev}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversize request: %v, want ResourceExhausted", err)
	}
	if _, err := c.Enrich(ctxT(t), sampleEvent(), sampleLead()); err != nil {
		t.Fatalf("enrich after oversize: %v", err)
	}
}

func TestDeadlineReachesPlugin(t *testing.T) {
	seen := make(chan error, 1)
	p := &testPlugin{enrich: func(ctx context.Context, _ sdk.Event, _ sdk.Lead) (sdk.Patch, error) {
		<-ctx.Done()
		seen <- ctx.Err()
		return sdk.Patch{}, ctx.Err()
	}}
	c := sdktest.Start(t, p, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Enrich(ctx, sampleEvent(), sampleLead()); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("enrich = %v, want DeadlineExceeded", err)
	}
	select {
	case err := <-seen:
		if err == nil {
			t.Fatal("plugin context ended without error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin's context was not cancelled")
	}
}

func TestConcurrentCalls(t *testing.T) {
	p := &testPlugin{enrich: func(_ context.Context, _ sdk.Event, lead sdk.Lead) (sdk.Patch, error) {
		return sdk.Patch{Fullname: new(lead.ID)}, nil
	}}
	c := sdktest.Start(t, p, nil)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			id := string(rune('a' + i%26))
			got, err := c.Enrich(ctx, sampleEvent(), sdk.Lead{ID: id})
			if err == nil && (got.Fullname == nil || *got.Fullname != id) {
				err = errors.New("answer for another call")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

type notAnEnricher struct{}

func (notAnEnricher) Describe() sdk.Description {
	return sdk.Description{Name: "liar", Kinds: []sdk.Kind{sdk.KindEnricher}}
}
func (notAnEnricher) Configure(context.Context, []byte, sdk.HostAPI) error { return nil }

func TestServeConfigRejectsInvalidPlugins(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    sdk.Plugin
		want string
	}{
		{"no name", &testPlugin{desc: sdk.Description{}, configure: nil}, ""},
		{"no kinds", &testPlugin{desc: sdk.Description{Name: "x"}}, "no kinds"},
		{"unknown kind", &testPlugin{desc: sdk.Description{Name: "x", Kinds: []sdk.Kind{"teleporter"}}}, "unknown kind"},
		{"kind not implemented", notAnEnricher{}, "does not implement"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdk.ServeConfig(tc.p)
			if tc.want == "" {
				// testPlugin with an empty description falls back to a valid one.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
