package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/leadhub/leadhub/config"
	"github.com/leadhub/leadhub/internal/testdb"
	"github.com/leadhub/leadhub/internal/testplugins"
)

// TestMain runs the package's tests once on SQLite and, when
// LEADHUB_TEST_DATABASE_URL is set, once more on PostgreSQL: startServer
// follows the pass.
func TestMain(m *testing.M) {
	code := testdb.Run(m)
	testplugins.Cleanup()
	os.Exit(code)
}

const testAdminKey = "lhadmin_test-admin-key-for-tests-only"

// testServer is a real Leadhub on loopback over a real database: a SQLite
// file, or a PostgreSQL schema of its own in the PostgreSQL pass.
type testServer struct {
	t   testing.TB
	srv *server
	URL string
	DB  string // the SQLite file; "" on PostgreSQL
	// DatabaseURL is the database the server was started on.
	DatabaseURL string
}

// startServer wires Leadhub exactly as `leadhub serve` does, on a fresh
// database of the pass's dialect (see TestMain).
func startServer(t testing.TB, mutate ...func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = testdb.URL(t)
	cfg.AdminKey = testAdminKey
	for _, m := range mutate {
		m(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := newServer(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.handler)
	t.Cleanup(func() {
		hs.Close()
		srv.close()
	})
	ts := &testServer{t: t, srv: srv, URL: hs.URL, DatabaseURL: cfg.DatabaseURL}
	if path, ok := strings.CutPrefix(cfg.DatabaseURL, "sqlite:"); ok {
		ts.DB = path
	}
	return ts
}

// resp is a decoded answer.
type resp struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

// do sends a request with a bearer key; body may be nil, a string (sent as
// is) or a value (sent as JSON).
func (s *testServer) do(method, path, key string, body any) resp {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		_ = json.Unmarshal(raw, &out.Body)
	}
	return out
}

// must fails the test unless the answer has the wanted status.
func (s *testServer) must(want int, method, path, key string, body any) map[string]any {
	s.t.Helper()
	r := s.do(method, path, key, body)
	if r.Status != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r.Body
}

// testProject is a project with a key of each role.
type testProject struct {
	ID                     string
	Admin, Agent, Ingest   string
	leadsPath, requestPath string
}

func (s *testServer) newProject(name string) testProject {
	s.t.Helper()
	p := s.must(201, "POST", "/v1/projects", testAdminKey, map[string]any{"name": name})
	tp := testProject{ID: p["id"].(string), Admin: p["api_key"].(string)}
	tp.Agent = s.must(201, "POST", "/v1/projects/"+tp.ID+"/keys", tp.Admin, map[string]any{"name": "agent", "role": "agent"})["key"].(string)
	tp.Ingest = s.must(201, "POST", "/v1/projects/"+tp.ID+"/keys", tp.Admin, map[string]any{"name": "ingest", "role": "ingest"})["key"].(string)
	tp.leadsPath = "/v1/projects/" + tp.ID + "/leads"
	tp.requestPath = "/v1/projects/" + tp.ID + "/requests"
	return tp
}

// path is a project-scoped path.
func (p testProject) path(rest string) string { return "/v1/projects/" + p.ID + rest }

// ingest posts a request for a user id with lead fields.
func (s *testServer) ingest(p testProject, userID string, lead map[string]any) map[string]any {
	s.t.Helper()
	body := map[string]any{"user_id": userID, "channel": "chat", "first_text": "hello"}
	if lead != nil {
		body["lead"] = lead
	}
	return s.must(201, "POST", p.requestPath, p.Ingest, body)
}

func items(body map[string]any) []map[string]any {
	raw, _ := body["items"].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

func field(body map[string]any, path ...string) any {
	var v any = body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
