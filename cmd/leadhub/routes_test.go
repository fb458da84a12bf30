package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"

	"github.com/leadhub/leadhub/core"
)

// routeCase is one project route with a body that would succeed, and the
// least role that may call it. Every project route of the router must have a
// row here: the tenancy and role tests walk this table.
type routeCase struct {
	method, path string // path uses {lead}, {request}, {key}, {merge}, … placeholders
	body         any
	role         string // ingest, agent or admin
}

var projectRoutes = []routeCase{
	{"GET", "", nil, "ingest"},
	{"PATCH", "", map[string]any{"name": "renamed"}, "admin"},
	{"POST", "/keys", map[string]any{"name": "k", "role": "agent"}, "admin"},
	{"GET", "/keys", nil, "admin"},
	{"DELETE", "/keys/{key}", nil, "admin"},
	{"GET", "/identity-secret", nil, "admin"},
	{"POST", "/identity-secret/rotate", nil, "admin"},
	{"POST", "/leads", map[string]any{"fullname": "New Person"}, "ingest"},
	{"POST", "/leads/batch", map[string]any{"leads": []any{map[string]any{"fullname": "Batch Person"}}}, "ingest"},
	{"GET", "/leads", nil, "agent"},
	{"GET", "/leads/{lead}", nil, "agent"},
	{"PATCH", "/leads/{lead}", map[string]any{"company": "Other"}, "agent"},
	{"DELETE", "/leads/{lead}", nil, "agent"},
	{"GET", "/leads/{lead}/requests", nil, "agent"},
	{"GET", "/leads/{lead}/events", nil, "agent"},
	{"POST", "/requests", map[string]any{"user_id": "tenancy-probe"}, "ingest"},
	{"GET", "/requests/{request}", nil, "agent"},
	{"PATCH", "/requests/{request}", map[string]any{"status": "closed"}, "ingest"},
	{"POST", "/requests/{request}/messages", map[string]any{"text": "hi"}, "ingest"},
	{"GET", "/duplicates", nil, "agent"},
	{"POST", "/duplicates/{duplicate}/dismiss", nil, "agent"},
	{"POST", "/leads/{lead}/merge", map[string]any{"from": []string{"{lead2}"}}, "agent"},
	{"POST", "/merges/{merge}/undo", nil, "agent"},
	{"POST", "/identify", map[string]any{"user_id": "fixture-user", "user_hash": "{user_hash}"}, "ingest"},
	{"POST", "/webhooks", map[string]any{"url": "http://127.0.0.1:9/route-probe", "events": []string{"lead.created"}}, "admin"},
	{"GET", "/webhooks", nil, "admin"},
	{"GET", "/webhooks/{webhook}", nil, "admin"},
	{"PATCH", "/webhooks/{webhook}", map[string]any{"description": "renamed"}, "admin"},
	{"DELETE", "/webhooks/{webhook}", nil, "admin"},
	{"POST", "/webhooks/{webhook}/rotate-secret", nil, "admin"},
	{"POST", "/webhooks/{webhook}/test", nil, "admin"},
	{"GET", "/webhooks/{webhook}/deliveries", nil, "admin"},
	{"POST", "/webhooks/{webhook}/deliveries/{delivery}/retry", nil, "admin"},
	{"POST", "/channels", map[string]any{"kind": "generic", "name": "probe"}, "admin"},
	{"GET", "/channels", nil, "admin"},
	{"GET", "/channels/{channel}", nil, "admin"},
	{"DELETE", "/channels/{channel}", nil, "admin"},
}

// fixture is one project's resources the route table points at.
type fixture struct {
	p                  testProject
	lead, request, key string
	extra              map[string]string
}

func (s *testServer) newFixture(name string) fixture {
	p := s.newProject(name)
	r := s.ingest(p, "fixture-user", map[string]any{"fullname": "Fixture Person", "email": "fixture@example.com"})
	k := s.must(201, "POST", p.path("/keys"), p.Admin, map[string]any{"name": "spare", "role": "ingest"})
	f := fixture{p: p, lead: field(r, "lead", "id").(string), request: field(r, "request", "id").(string), key: k["id"].(string), extra: map[string]string{}}
	// For the duplicate and merge routes: a second lead to merge, a
	// suggestion to dismiss, a merge to undo, and the fixture user's hash.
	f.extra["lead2"] = field(s.ingest(p, "fixture-user-2", nil), "lead", "id").(string)
	lead3 := field(s.ingest(p, "fixture-user-3", nil), "lead", "id").(string)
	d, _, err := s.srv.store.SuggestDuplicate(context.Background(), p.ID, core.Suggestion{LeadID: f.lead, CandidateID: f.extra["lead2"], Score: 1, Detector: "fixture"})
	if err != nil {
		s.t.Fatal(err)
	}
	f.extra["duplicate"] = d.ID
	f.extra["merge"] = s.must(200, "POST", p.path("/leads/"+f.extra["lead2"]+"/merge"), p.Agent, map[string]any{"from": []string{lead3}})["merge_id"].(string)
	secret := s.must(200, "GET", p.path("/identity-secret"), p.Admin, nil)["secret"].(string)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("fixture-user"))
	f.extra["user_hash"] = hex.EncodeToString(mac.Sum(nil))
	s.webhookFixture(&f) // {webhook}, {delivery}, {channel}: webhooks_e2e_test.go
	return f
}

// expandBody fills the placeholders of a body as expand does a path's.
func (f fixture) expandBody(body any) any {
	if body == nil {
		return nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	s := string(b)
	for k, v := range map[string]string{"lead": f.lead, "request": f.request, "key": f.key} {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	for k, v := range f.extra {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return []byte(s)
}

func (f fixture) expand(path string) string {
	r := strings.NewReplacer("{lead}", f.lead, "{request}", f.request, "{key}", f.key)
	path = r.Replace(path)
	for k, v := range f.extra {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return f.p.path(path)
}

// snapshot counts the rows of every table of a SQLite file and keeps the
// mutable columns of leads, requests, keys and projects, so that a test can
// prove that a refused call changed nothing.
func snapshot(t *testing.T, dbPath string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'leads_fts%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]string{}
	for _, tb := range tables {
		var n int
		if err := db.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q`, tb)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tb] = fmt.Sprint(n)
	}
	digest := func(name, query string) {
		var v sql.NullString
		if err := db.QueryRow(query).Scan(&v); err != nil {
			t.Fatal(err)
		}
		out[name] = v.String
	}
	digest("#keys", `SELECT group_concat(id || coalesce(revoked_at, ''), ',') FROM api_keys`)
	digest("#projects", `SELECT group_concat(id || name || settings || identity_secret, ',') FROM projects`)
	digest("#leads", `SELECT group_concat(id || fullname || email || company || status || attributes || tags || user_ids || requests_count || updated_at, ',') FROM leads`)
	digest("#requests", `SELECT group_concat(id || lead_id || status || attributes || messages_count || updated_at, ',') FROM requests`)
	return out
}

// projectState is everything a project's keys can read about its fixture.
func (s *testServer) projectState(f fixture) string {
	var b strings.Builder
	for _, p := range []string{"", "/keys", "/identity-secret", "/leads?status=all", "/leads/" + f.lead, "/leads/" + f.lead + "/requests", "/leads/" + f.lead + "/events", "/requests/" + f.request} {
		r := s.do("GET", f.p.path(p), f.p.Admin, nil)
		fmt.Fprintf(&b, "%s %d %s\n", p, r.Status, r.Raw)
	}
	return b.String()
}

// Every project route, called with a key of another project (on this
// project's path, and on its own path with this project's ids), answers 404
// and changes nothing.
func TestTenancy(t *testing.T) {
	s := startServer(t)
	a := s.newFixture("a")
	b := s.newFixture("b")
	before := s.projectState(a)
	for _, rc := range projectRoutes {
		for _, key := range []string{b.p.Admin, b.p.Agent, b.p.Ingest} {
			r := s.do(rc.method, a.expand(rc.path), key, a.expandBody(rc.body))
			if r.Status != 404 {
				t.Errorf("%s %s with another project's key: %d, want 404: %s", rc.method, rc.path, r.Status, r.Raw)
			}
		}
		if strings.Contains(rc.path, "{") {
			// B's own project, A's resource ids.
			cross := b
			cross.lead, cross.request, cross.key = a.lead, a.request, a.key
			for k, v := range a.extra {
				cross.extra[k] = v
			}
			r := s.do(rc.method, cross.expand(rc.path), b.p.Admin, cross.expandBody(rc.body))
			if r.Status != 404 {
				t.Errorf("%s %s with another project's ids: %d, want 404: %s", rc.method, rc.path, r.Status, r.Raw)
			}
		}
	}
	if after := s.projectState(a); after != before {
		t.Errorf("project A changed:\nbefore %s\nafter %s", before, after)
	}
}

// Each route refuses keys below its role with 403 and serves the rest.
func TestRoles(t *testing.T) {
	s := startServer(t, allowLoopbackWebhooks) // POST /webhooks targets loopback
	rank := map[string]int{"ingest": 1, "agent": 2, "admin": 3}
	for _, rc := range projectRoutes {
		for _, role := range []string{"ingest", "agent", "admin"} {
			f := s.newFixture("roles")
			key := map[string]string{"ingest": f.p.Ingest, "agent": f.p.Agent, "admin": f.p.Admin}[role]
			r := s.do(rc.method, f.expand(rc.path), key, f.expandBody(rc.body))
			allowed := rank[role] >= rank[rc.role]
			if allowed && (r.Status == 403 || r.Status >= 400) {
				t.Errorf("%s %s as %s: %d, want success: %s", rc.method, rc.path, role, r.Status, r.Raw)
			}
			if !allowed && r.Status != 403 {
				t.Errorf("%s %s as %s: %d, want 403", rc.method, rc.path, role, r.Status)
			}
		}
	}
	// No key, a wrong key, a revoked key: 401.
	f := s.newFixture("auth")
	for _, key := range []string{"", "lh_not-a-key"} {
		if r := s.do("GET", f.p.path("/leads"), key, nil); r.Status != 401 || field(r.Body, "error", "code") != "unauthorized" {
			t.Errorf("key %q: %d %s", key, r.Status, r.Raw)
		}
	}
	s.must(204, "DELETE", f.p.path("/keys/"+f.key), f.p.Admin, nil)
	spare := s.must(201, "POST", f.p.path("/keys"), f.p.Admin, map[string]any{"name": "x", "role": "agent"})
	s.must(204, "DELETE", f.p.path("/keys/"+spare["id"].(string)), f.p.Admin, nil)
	if r := s.do("GET", f.p.path("/leads"), spare["key"].(string), nil); r.Status != 401 {
		t.Errorf("revoked key: %d", r.Status)
	}
	// Creating projects needs the server admin key.
	if r := s.do("POST", "/v1/projects", f.p.Admin, map[string]any{"name": "x"}); r.Status != 403 {
		t.Errorf("project key creating a project: %d", r.Status)
	}
}

// Every project route of the router has a row in projectRoutes, and the
// OpenAPI file lists exactly the router's routes.
func TestRouteTableAndOpenAPI(t *testing.T) {
	s := startServer(t)
	var router []string
	for _, r := range s.srv.api.Routes() {
		router = append(router, r)
	}
	sort.Strings(router)
	table := map[string]bool{}
	for _, rc := range projectRoutes {
		table[normalisePlaceholders(rc.method+" /v1/projects/{project}"+rc.path)] = true
	}
	for _, r := range router {
		if strings.Contains(r, "/v1/projects/{project}") && !table[normalisePlaceholders(r)] {
			t.Errorf("route %s has no row in projectRoutes (routes_test.go)", r)
		}
	}

	raw, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for m := range ops {
			switch m {
			case "get", "post", "put", "patch", "delete":
				documented = append(documented, strings.ToUpper(m)+" "+path)
			}
		}
	}
	sort.Strings(documented)
	if !reflect.DeepEqual(router, documented) {
		t.Errorf("router and docs/openapi.yaml differ:\nonly in router: %v\nonly in openapi: %v", minus(router, documented), minus(documented, router))
	}
}

// normalisePlaceholders writes every {name} as {} so that a table row's
// placeholder names need not match the router's parameter names.
func normalisePlaceholders(p string) string {
	var b strings.Builder
	skip := false
	for _, r := range p {
		switch {
		case r == '{':
			skip = true
			b.WriteString("{}")
		case r == '}':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}
