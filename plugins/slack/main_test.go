package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/leadhub/leadhub/sdk"
	"github.com/leadhub/leadhub/sdk/sdktest"
)

// receiver is a Slack-compatible webhook that records texts and answers
// with status.
type receiver struct {
	mu     sync.Mutex
	texts  []string
	status int
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Text string `json:"text"`
		}
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(b, &body); err != nil || body.Text == "" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.status != http.StatusOK {
			http.Error(w, "no_service", r.status)
			return
		}
		r.texts = append(r.texts, body.Text)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.texts...)
}

func (r *receiver) answer(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

func created(id, data string) sdk.Event {
	return sdk.Event{ID: "ev-" + id, Type: sdk.EventLeadCreated, ProjectID: "p1", LeadID: id, Data: json.RawMessage(data)}
}

func TestDeliver(t *testing.T) {
	r := newReceiver(t)
	c := sdktest.Start(t, &slack{}, nil, sdktest.WithConfig(map[string]string{"url": r.srv.URL + "/services/T0/B0/secret"}))

	batch := []sdk.Event{
		created("l1", `{"lead":{"id":"l1","fullname":"Ann","lastname":"Lee","email":"ann@acme.io"},"request":{"id":"r1"}}`),
		created("l2", `{"lead":{"id":"l2","fullname":"Bob <script> & co"}}`),
		created("l3", ``),
		{ID: "ev-u", Type: sdk.EventLeadUpdated, LeadID: "l1", Data: json.RawMessage(`{"lead":{"id":"l1"}}`)},
		{ID: "ev-m", Type: sdk.EventLeadMerged, ProjectID: "p1", LeadID: "l1",
			Data: json.RawMessage(`{"lead":{"id":"l1","fullname":"Ann Lee","lastname":"Lee","email":"ann@acme.io"},"merged_ids":["l2","l3"]}`)},
	}
	if err := c.Deliver(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"New lead: Ann Lee &lt;ann@acme.io&gt; (id l1)",
		"New lead: Bob &lt;script&gt; &amp; co (id l2)",
		"New lead: a lead without name or email (id l3)",
		"Leads merged into Ann Lee &lt;ann@acme.io&gt; (id l1); merged: l2, l3",
	}
	got := r.got()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("posted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDeliverFailsBatchOnNon2xx(t *testing.T) {
	r := newReceiver(t)
	secretURL := r.srv.URL + "/services/T0/B0/secret"
	c := sdktest.Start(t, &slack{}, nil, sdktest.WithConfig(map[string]string{"url": secretURL}))
	r.answer(http.StatusServiceUnavailable)
	err := c.Deliver(t.Context(), []sdk.Event{created("l1", `{"lead":{"id":"l1"}}`)})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("deliver = %v, want a 503 error", err)
	}
	// The host redelivers the batch; now it goes through.
	r.answer(http.StatusOK)
	if err := c.Deliver(t.Context(), []sdk.Event{created("l1", `{"lead":{"id":"l1"}}`)}); err != nil {
		t.Fatal(err)
	}
	if got := r.got(); len(got) != 1 {
		t.Fatalf("posted %q", got)
	}

	// A dead endpoint fails without leaking the URL's secret.
	r.srv.Close()
	err = c.Deliver(t.Context(), []sdk.Event{created("l1", `{"lead":{"id":"l1"}}`)})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("deliver to a closed server = %v", err)
	}
}

func TestConfigure(t *testing.T) {
	for _, cfg := range []string{``, `{}`, `{"url":""}`, `{"url":"ftp://x/y"}`, `{"url":"not a url"}`, `[1]`} {
		c := sdktest.Start(t, &slack{}, nil, sdktest.Unconfigured())
		var raw []byte
		if cfg != "" {
			raw = []byte(cfg)
		}
		if err := c.Configure(t.Context(), raw); err == nil {
			t.Errorf("config %q accepted", cfg)
		}
	}
}
