package main

import (
	"net/url"
	"testing"
)

// The seed scenario: the same person from two browsers gives two leads with
// one email; search finds both, and each lead shows its own requests.
func TestSeedScenario(t *testing.T) {
	s := startServer(t)
	p := s.newProject("acme")

	a1 := s.ingest(p, "A", map[string]any{"fullname": "Andrea Sp", "email": "andrea1@gmail.com"})
	a2 := s.ingest(p, "A", map[string]any{"fullname": "Andrea Sp", "email": "andrea1@gmail.com"})
	b1 := s.ingest(p, "B", map[string]any{"fullname": "Andrea Sp1", "email": "andrea1@gmail.com"})
	leadA := field(a1, "lead", "id").(string)
	if got := field(a2, "lead", "id"); got != leadA {
		t.Fatalf("second request of A landed on %v, want %s", got, leadA)
	}
	leadB := field(b1, "lead", "id").(string)
	if leadB == leadA {
		t.Fatal("B landed on A's lead")
	}

	for _, email := range []string{"andrea1@gmail.com", "ANDREA1@gmail.com", "Andrea1@Gmail.Com"} {
		found := items(s.must(200, "GET", p.leadsPath+"?email="+url.QueryEscape(email), p.Agent, nil))
		if len(found) != 2 {
			t.Fatalf("search by %s: %d leads, want 2", email, len(found))
		}
	}
	found := items(s.must(200, "GET", p.leadsPath+"?q=andr", p.Agent, nil))
	if len(found) != 2 {
		t.Fatalf("text search: %d leads, want 2", len(found))
	}

	detailA := s.must(200, "GET", p.leadsPath+"/"+leadA, p.Agent, nil)
	if detailA["requests_count"] != float64(2) || detailA["fullname"] != "Andrea Sp" {
		t.Fatalf("lead A: %v", detailA)
	}
	reqsA := items(s.must(200, "GET", p.leadsPath+"/"+leadA+"/requests", p.Agent, nil))
	reqsB := items(s.must(200, "GET", p.leadsPath+"/"+leadB+"/requests", p.Agent, nil))
	if len(reqsA) != 2 || len(reqsB) != 1 {
		t.Fatalf("requests: A %d, B %d; want 2 and 1", len(reqsA), len(reqsB))
	}
	if reqsA[0]["id"] != field(a2, "request", "id") {
		t.Fatalf("requests not newest first: %v", reqsA)
	}
	evs := items(s.must(200, "GET", p.leadsPath+"/"+leadA+"/events", p.Agent, nil))
	var types []string
	for _, e := range evs {
		types = append(types, e["type"].(string))
	}
	want := []string{"request.created", "request.created", "lead.created"}
	if len(types) != len(want) {
		t.Fatalf("timeline %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("timeline %v, want %v", types, want)
		}
	}
}
