package main

import (
	"strings"
	"testing"
)

// Bad input gets a 4xx with the API's error shape and changes nothing.
func TestBadInputChangesNothing(t *testing.T) {
	s := startServer(t)
	f := s.newFixture("bad")
	otherSortCursor := func() string {
		// A cursor issued for another sort order.
		for i := 0; i < 3; i++ {
			s.ingest(f.p, "cursor-user-"+string(rune('a'+i)), nil)
		}
		r := s.must(200, "GET", f.p.path("/leads?limit=1&sort=updated_at"), f.p.Agent, nil)
		return r["next_cursor"].(string)
	}()
	before := s.projectState(f)

	huge := `{"user_id":"u","first_text":"` + strings.Repeat("x", 1<<20) + `"}`
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"body over 1 MiB", "POST", "/requests", huge, 413, "too_large", ""},
		{"malformed JSON", "POST", "/requests", `{"user_id":`, 400, "invalid", ""},
		{"not an object", "POST", "/requests", `[1,2]`, 400, "invalid", ""},
		{"empty body", "POST", "/requests", ``, 400, "invalid", ""},
		{"trailing data", "POST", "/requests", `{"user_id":"u"} {}`, 400, "invalid", ""},
		{"wrong type", "POST", "/requests", `{"user_id":5}`, 400, "invalid", "user_id"},
		{"wrong nested type", "POST", "/requests", `{"user_id":"u","lead":{"email":7}}`, 400, "invalid", "lead.email"},
		{"unknown field", "POST", "/requests", `{"user_id":"u","bogus":1}`, 400, "invalid", "bogus"},
		{"missing user id", "POST", "/requests", `{"channel":"chat"}`, 400, "invalid", "user_id"},
		{"user id too long", "POST", "/requests", map[string]any{"user_id": strings.Repeat("u", 300)}, 400, "invalid", "user_id"},
		{"invalid email on ingest", "POST", "/requests", `{"user_id":"u","lead":{"email":"not-an-email"}}`, 400, "invalid", "email"},
		{"invalid email on create", "POST", "/leads", `{"fullname":"X","email":"a@"}`, 400, "invalid", "email"},
		{"empty user id on create", "POST", "/leads", `{"user_id":""}`, 400, "invalid", "user_id"},
		{"taken user id on create", "POST", "/leads", `{"user_id":"fixture-user"}`, 409, "conflict", ""},
		{"bad tags on create", "POST", "/leads", `{"tags":[""]}`, 400, "invalid", "tags"},
		{"unknown sort", "GET", "/leads?sort=email", nil, 400, "invalid", "sort"},
		{"unknown status", "GET", "/leads?status=gone", nil, 400, "invalid", "status"},
		{"unknown query parameter", "GET", "/leads?colour=red", nil, 400, "invalid", "colour"},
		{"garbage cursor", "GET", "/leads?cursor=not-a-cursor", nil, 400, "invalid", "cursor"},
		{"forged cursor", "GET", "/leads?cursor=eyJzIjoiLWNyZWF0ZWRfYXQiLCJxIjowfQ", nil, 400, "invalid", "cursor"},
		{"cursor of another sort", "GET", "/leads?cursor=" + otherSortCursor, nil, 400, "invalid", "cursor"},
		{"limit zero", "GET", "/leads?limit=0", nil, 400, "invalid", "limit"},
		{"limit too big", "GET", "/leads?limit=501", nil, 400, "invalid", "limit"},
		{"limit not a number", "GET", "/leads?limit=ten", nil, 400, "invalid", "limit"},
		{"search without words", "GET", "/leads?q=%2B%2B", nil, 400, "invalid", "q"},
		{"bad events cursor", "GET", "/leads/{lead}/events?cursor=x", nil, 400, "invalid", "cursor"},
		{"patch unknown field", "PATCH", "/leads/{lead}", `{"id":"new-id"}`, 400, "invalid", "id"},
		{"patch read-only counter", "PATCH", "/leads/{lead}", `{"requests_count":9}`, 400, "invalid", "requests_count"},
		{"patch bad status", "PATCH", "/leads/{lead}", `{"status":"merged"}`, 400, "invalid", "status"},
		{"patch bad email", "PATCH", "/leads/{lead}", `{"email":"nope"}`, 400, "invalid", "email"},
		{"patch attributes not an object", "PATCH", "/leads/{lead}", `{"attributes":5}`, 400, "invalid", "attributes"},
		{"patch tags not an array", "PATCH", "/leads/{lead}", `{"tags":"vip"}`, 400, "invalid", "tags"},
		{"patch not an object", "PATCH", "/leads/{lead}", `[]`, 400, "invalid", ""},
		{"patch one bad of two", "PATCH", "/leads/{lead}", `{"company":"Fine Co","email":"bad"}`, 400, "invalid", "email"},
		{"request bad status", "PATCH", "/requests/{request}", `{"status":"archived"}`, 400, "invalid", "status"},
		{"message wrong type", "POST", "/requests/{request}/messages", `{"text":1}`, 400, "invalid", "text"},
		{"key bad role", "POST", "/keys", `{"name":"k","role":"root"}`, 400, "invalid", "role"},
		{"key without name", "POST", "/keys", `{"role":"agent"}`, 400, "invalid", "name"},
		{"project bad auto_merge", "PATCH", "", `{"settings":{"auto_merge":"always"}}`, 400, "invalid", "settings.auto_merge"},
		{"project empty name", "PATCH", "", `{"name":" "}`, 400, "invalid", "name"},
		{"unknown lead", "GET", "/leads/no-such-lead", nil, 404, "not_found", ""},
		{"patch unknown lead", "PATCH", "/leads/no-such-lead", `{"company":"X"}`, 404, "not_found", ""},
		{"unknown request", "PATCH", "/requests/no-such-request", `{"status":"closed"}`, 404, "not_found", ""},
		{"message on unknown request", "POST", "/requests/no-such-request/messages", `{}`, 404, "not_found", ""},
		{"delete unknown lead", "DELETE", "/leads/no-such-lead", nil, 404, "not_found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, f.expand(tc.path), f.p.Admin, tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Raw)
			}
			if got := field(r.Body, "error", "code"); got != tc.code {
				t.Fatalf("error code %v, want %s: %s", got, tc.code, r.Raw)
			}
			if msg, _ := field(r.Body, "error", "message").(string); msg == "" {
				t.Fatalf("no error message: %s", r.Raw)
			}
			if tc.field != "" {
				if _, ok := field(r.Body, "error", "fields").(map[string]any)[tc.field]; !ok {
					t.Fatalf("error does not name field %q: %s", tc.field, r.Raw)
				}
			}
			if after := s.projectState(f); after != before {
				t.Fatalf("state changed:\nbefore %s\nafter %s", before, after)
			}
		})
	}
}
