package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
)

// mergeE2EHash is what a customer's backend computes for identify.
func mergeE2EHash(secret, userID string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(userID))
	return hex.EncodeToString(mac.Sum(nil))
}

func mergeE2ELeadIDs(list []map[string]any) []string {
	var ids []string
	for _, l := range list {
		ids = append(ids, l["id"].(string))
	}
	return ids
}

func mergeE2EStrings(v any) []string {
	raw, _ := v.([]any)
	out := make([]string, len(raw))
	for i, x := range raw {
		out[i], _ = x.(string)
	}
	return out
}

// mergeE2EState is everything an agent can read about a project's leads,
// requests, timelines and suggestions: equal before and after a refused call
// means it changed nothing.
func (s *testServer) mergeE2EState(p testProject) string {
	s.t.Helper()
	var b strings.Builder
	leads := items(s.must(200, "GET", p.leadsPath+"?status=all&limit=500", p.Admin, nil))
	fmt.Fprintf(&b, "leads %v\n", leads)
	for _, id := range mergeE2ELeadIDs(leads) {
		for _, sub := range []string{"/requests?limit=500", "/events?limit=500"} {
			r := s.do("GET", p.leadsPath+"/"+id+sub, p.Admin, nil)
			fmt.Fprintf(&b, "%s%s %d %s\n", id, sub, r.Status, r.Raw)
		}
	}
	for _, st := range []string{"open", "dismissed", "merged"} {
		r := s.do("GET", p.path("/duplicates?limit=500&status="+st), p.Admin, nil)
		fmt.Fprintf(&b, "duplicates %s %d %s\n", st, r.Status, r.Raw)
	}
	return b.String()
}

// The seed scenario through merge and undo: user id A opens two requests as
// "Andrea Sp", user id B one as "Andrea Sp1" with the same email; search
// finds both; B is merged into A; a new request from B lands on A; the undo
// gives B back its lead with every request of B, the new one included.
func TestMergeSeedScenarioE2E(t *testing.T) {
	s := startServer(t)
	p := s.newProject("acme")
	a1 := s.ingest(p, "A", map[string]any{"fullname": "Andrea Sp", "email": "andrea1@gmail.com"})
	s.ingest(p, "A", map[string]any{"fullname": "Andrea Sp", "email": "andrea1@gmail.com"})
	b1 := s.ingest(p, "B", map[string]any{"fullname": "Andrea Sp1", "email": "andrea1@gmail.com", "phone": "+39 06 1234 567"})
	leadA := field(a1, "lead", "id").(string)
	leadB := field(b1, "lead", "id").(string)
	byEmail := func() []string {
		return mergeE2ELeadIDs(items(s.must(200, "GET", p.leadsPath+"?email="+url.QueryEscape("Andrea1@Gmail.com"), p.Agent, nil)))
	}
	if got := byEmail(); len(got) != 2 {
		t.Fatalf("search by email before the merge: %v", got)
	}

	m := s.must(200, "POST", p.leadsPath+"/"+leadA+"/merge", p.Agent, map[string]any{"from": []string{leadB}})
	mergeID, _ := m["merge_id"].(string)
	lead := m["lead"].(map[string]any)
	if mergeID == "" || lead["id"] != leadA || lead["requests_count"] != float64(3) || lead["fullname"] != "Andrea Sp" ||
		lead["phone"] != "+39 06 1234 567" || !slices.Equal(mergeE2EStrings(lead["user_ids"]), []string{"A", "B"}) {
		t.Fatalf("merge answer %v", m)
	}
	b := s.must(200, "GET", p.leadsPath+"/"+leadB, p.Agent, nil)
	if b["status"] != "merged" || b["merged_into"] != leadA || b["fullname"] != "Andrea Sp1" {
		t.Fatalf("merged lead %v", b)
	}
	if got := byEmail(); !slices.Equal(got, []string{leadA}) {
		t.Fatalf("search by email after the merge: %v", got)
	}
	evs := items(s.must(200, "GET", p.leadsPath+"/"+leadB+"/events", p.Agent, nil))
	if evs[0]["type"] != "lead.merged" || field(evs[0], "data", "merged_into") != leadA {
		t.Fatalf("merged lead's timeline: %v", evs[0])
	}
	evs = items(s.must(200, "GET", p.leadsPath+"/"+leadA+"/events", p.Agent, nil))
	if evs[0]["type"] != "lead.merged" || !slices.Equal(mergeE2EStrings(field(evs[0], "data", "merged_ids")), []string{leadB}) {
		t.Fatalf("survivor's timeline: %v", evs[0])
	}

	b2 := s.ingest(p, "B", map[string]any{"fullname": "Andrea Sp1"})
	if field(b2, "lead", "id") != leadA || field(b2, "request", "lead_id") != leadA {
		t.Fatalf("a new request from B landed on %v", field(b2, "lead", "id"))
	}
	if n := len(items(s.must(200, "GET", p.leadsPath+"/"+leadA+"/requests", p.Agent, nil))); n != 4 {
		t.Fatalf("survivor has %d requests, want 4", n)
	}

	u := s.must(200, "POST", p.path("/merges/"+mergeID+"/undo"), p.Agent, nil)
	if field(u, "lead", "id") != leadA || field(u, "lead", "phone") != "" {
		t.Fatalf("undo answer %v", u)
	}
	b = s.must(200, "GET", p.leadsPath+"/"+leadB, p.Agent, nil)
	if b["status"] != "active" || b["merged_into"] != nil || b["requests_count"] != float64(2) ||
		!slices.Equal(mergeE2EStrings(b["user_ids"]), []string{"B"}) || b["phone"] != "+39 06 1234 567" {
		t.Fatalf("restored lead %v", b)
	}
	reqsB := items(s.must(200, "GET", p.leadsPath+"/"+leadB+"/requests", p.Agent, nil))
	if len(reqsB) != 2 || reqsB[0]["id"] != field(b2, "request", "id") {
		t.Fatalf("B's requests after the undo: %v", reqsB)
	}
	a := s.must(200, "GET", p.leadsPath+"/"+leadA, p.Agent, nil)
	if a["requests_count"] != float64(2) || !slices.Equal(mergeE2EStrings(a["user_ids"]), []string{"A"}) {
		t.Fatalf("survivor after the undo %v", a)
	}
	if got := byEmail(); len(got) != 2 {
		t.Fatalf("search by email after the undo: %v", got)
	}
	for _, id := range []string{leadA, leadB} {
		if evs := items(s.must(200, "GET", p.leadsPath+"/"+id+"/events", p.Agent, nil)); evs[0]["type"] != "lead.unmerged" {
			t.Fatalf("timeline of %s starts with %v", id, evs[0]["type"])
		}
	}
	r := s.do("POST", p.path("/merges/"+mergeID+"/undo"), p.Agent, nil)
	if r.Status != 409 || field(r.Body, "error", "code") != "conflict" {
		t.Fatalf("second undo: %d %s", r.Status, r.Raw)
	}
}

// Refused merges and undos answer with the contract's statuses and change
// nothing.
func TestMergeRefusalsE2E(t *testing.T) {
	s := startServer(t)
	p := s.newProject("acme")
	q := s.newProject("other")
	a := field(s.ingest(p, "A", nil), "lead", "id").(string)
	b := field(s.ingest(p, "B", nil), "lead", "id").(string)
	c := field(s.ingest(p, "C", nil), "lead", "id").(string)
	d := field(s.ingest(p, "D", nil), "lead", "id").(string)
	foreign := field(s.ingest(q, "A", nil), "lead", "id").(string)
	s.must(204, "DELETE", p.leadsPath+"/"+d, p.Agent, nil)
	m1 := s.must(200, "POST", p.leadsPath+"/"+c+"/merge", p.Agent, map[string]any{"from": []string{b}})["merge_id"].(string)
	m2 := s.must(200, "POST", p.leadsPath+"/"+a+"/merge", p.Agent, map[string]any{"from": []string{c}})["merge_id"].(string)
	before := s.mergeE2EState(p)
	otherBefore := s.mergeE2EState(q)

	cases := []struct {
		name, path string
		body       any
		status     int
	}{
		{"a lead into itself", p.leadsPath + "/" + a + "/merge", map[string]any{"from": []string{a}}, 400},
		{"no from", p.leadsPath + "/" + a + "/merge", map[string]any{}, 400},
		{"from not a list", p.leadsPath + "/" + a + "/merge", `{"from": "x"}`, 400},
		{"unknown field", p.leadsPath + "/" + a + "/merge", map[string]any{"from": []string{d}, "into": a}, 400},
		{"a merged lead", p.leadsPath + "/" + a + "/merge", map[string]any{"from": []string{b}}, 409},
		{"into a merged lead", p.leadsPath + "/" + c + "/merge", map[string]any{"from": []string{a}}, 409},
		{"a deleted lead", p.leadsPath + "/" + a + "/merge", map[string]any{"from": []string{d}}, 409},
		{"another project's lead", p.leadsPath + "/" + a + "/merge", map[string]any{"from": []string{foreign}}, 404},
		{"into another project's lead", p.leadsPath + "/" + foreign + "/merge", map[string]any{"from": []string{a}}, 404},
		{"an unknown lead", p.leadsPath + "/nope/merge", map[string]any{"from": []string{a}}, 404},
		{"undo after a later merge touching the leads", p.path("/merges/" + m1 + "/undo"), nil, 409},
		{"undo of an unknown merge", p.path("/merges/nope/undo"), nil, 404},
		{"undo of another project's merge", q.path("/merges/" + m2 + "/undo"), nil, 404},
	}
	for _, tc := range cases {
		key := p.Agent
		if strings.HasPrefix(tc.path, q.path("")) {
			key = q.Agent
		}
		r := s.do("POST", tc.path, key, tc.body)
		if r.Status != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, r.Status, tc.status, r.Raw)
		}
		if tc.status == 409 && tc.name == "undo after a later merge touching the leads" &&
			!strings.Contains(fmt.Sprint(field(r.Body, "error", "message")), m2) {
			t.Errorf("the 409 does not name the later merge: %s", r.Raw)
		}
	}
	if after := s.mergeE2EState(p); after != before {
		t.Fatalf("refused calls changed the project:\n%s\n%s", before, after)
	}
	if after := s.mergeE2EState(q); after != otherBefore {
		t.Fatalf("refused calls changed the other project")
	}
	// Undo in order: the later merge first, then the earlier one.
	s.must(200, "POST", p.path("/merges/"+m2+"/undo"), p.Agent, nil)
	s.must(200, "POST", p.path("/merges/"+m1+"/undo"), p.Agent, nil)
	for _, id := range []string{a, b, c} {
		if l := s.must(200, "GET", p.leadsPath+"/"+id, p.Agent, nil); l["status"] != "active" || l["requests_count"] != float64(1) {
			t.Fatalf("lead after both undos: %v", l)
		}
	}
}

// A merge while clients keep posting requests for the merged user ids: every
// acknowledged request exists, on the survivor, and none sits on a merged
// lead. Two merges racing over the same leads: one 200, one 409.
func TestMergeConcurrencyE2E(t *testing.T) {
	s := startServer(t)
	p := s.newProject("acme")
	a := field(s.ingest(p, "A", nil), "lead", "id").(string)
	b := field(s.ingest(p, "B", nil), "lead", "id").(string)
	c := field(s.ingest(p, "C", nil), "lead", "id").(string)

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				r := s.do("POST", p.requestPath, p.Ingest, map[string]any{"id": id, "user_id": []string{"B", "C"}[i%2]})
				if r.Status != 201 {
					t.Errorf("request %s: %d %s", id, r.Status, r.Raw)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	m := s.must(200, "POST", p.leadsPath+"/"+a+"/merge", p.Agent, map[string]any{"from": []string{b, c}})
	mu.Lock()
	atMerge := len(acked)
	mu.Unlock()
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= atMerge+40 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if m["merge_id"] == "" {
		t.Fatalf("merge: %v", m)
	}
	for _, id := range acked {
		r := s.must(200, "GET", p.requestPath+"/"+id, p.Agent, nil)
		if r["lead_id"] != a {
			t.Fatalf("acknowledged request %s is on %v, not on the survivor", id, r["lead_id"])
		}
	}
	for _, id := range []string{b, c} {
		if reqs := items(s.must(200, "GET", p.leadsPath+"/"+id+"/requests", p.Agent, nil)); len(reqs) != 0 {
			t.Fatalf("%d requests sit on merged lead %s", len(reqs), id)
		}
	}
	if l := s.must(200, "GET", p.leadsPath+"/"+a, p.Agent, nil); l["requests_count"] != float64(len(acked)+3) {
		t.Fatalf("requests_count %v, want %d", l["requests_count"], len(acked)+3)
	}

	// Racing merges, each pair merged both ways at once by two clients.
	for round := range 10 {
		x := field(s.ingest(p, fmt.Sprintf("x%d", round), nil), "lead", "id").(string)
		y := field(s.ingest(p, fmt.Sprintf("y%d", round), nil), "lead", "id").(string)
		statuses := make([]int, 2)
		start := make(chan struct{})
		for i, pair := range [][2]string{{x, y}, {y, x}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i] = s.do("POST", p.leadsPath+"/"+pair[0]+"/merge", p.Agent, map[string]any{"from": []string{pair[1]}}).Status
			}()
		}
		close(start)
		wg.Wait()
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{200, 409}) {
			t.Fatalf("round %d: racing merges answered %v, want one 200 and one 409", round, statuses)
		}
	}
}

// identify with right and wrong hashes, with and without auto-merge.
func TestIdentifyE2E(t *testing.T) {
	for _, mode := range []string{"off", "verified"} {
		t.Run(mode, func(t *testing.T) {
			s := startServer(t)
			p := s.newProject("acme")
			s.must(200, "PATCH", p.path(""), p.Admin, map[string]any{"settings": map[string]any{"auto_merge": mode}})
			secret := s.must(200, "GET", p.path("/identity-secret"), p.Admin, nil)["secret"].(string)
			anon := field(s.ingest(p, "browser-1", map[string]any{"fullname": "Andrea", "email": "andrea1@gmail.com"}), "lead", "id").(string)
			// Someone typing the same email elsewhere is never merged by it.
			lookalike := field(s.ingest(p, "browser-2", map[string]any{"email": "andrea1@gmail.com"}), "lead", "id").(string)

			before := s.mergeE2EState(p)
			for _, hash := range []string{"deadbeef", mergeE2EHash(secret, "someone-else"), mergeE2EHash("wrong", "user-42")} {
				r := s.do("POST", p.path("/identify"), p.Ingest, map[string]any{"user_id": "user-42", "user_hash": hash,
					"anonymous_id": "browser-1", "lead": map[string]any{"company": "Acme"}})
				if r.Status != 401 || field(r.Body, "error", "code") != "unauthorized" {
					t.Fatalf("wrong hash %s: %d %s", hash, r.Status, r.Raw)
				}
			}
			if after := s.mergeE2EState(p); after != before {
				t.Fatalf("a refused identify changed something:\n%s\n%s", before, after)
			}

			r := s.must(200, "POST", p.path("/identify"), p.Ingest, map[string]any{"user_id": "user-42",
				"user_hash": strings.ToUpper(mergeE2EHash(secret, "user-42")), "anonymous_id": "browser-1",
				"lead": map[string]any{"company": "Acme", "attributes": map[string]any{"plan": "pro"}}})
			lead := r["lead"].(map[string]any)
			if lead["company"] != "Acme" || field(lead, "attributes", "plan") != "pro" {
				t.Fatalf("identify answer %v", r)
			}
			userLead := lead["id"].(string)
			anonLead := s.must(200, "GET", p.leadsPath+"/"+anon, p.Agent, nil)
			open := items(s.must(200, "GET", p.path("/duplicates"), p.Agent, nil))
			if mode == "verified" {
				if anonLead["status"] != "merged" || anonLead["merged_into"] != userLead ||
					!slices.Equal(mergeE2EStrings(lead["user_ids"]), []string{"user-42", "browser-1"}) || lead["email"] != "andrea1@gmail.com" {
					t.Fatalf("auto-merge: user %v, anonymous %v", lead, anonLead)
				}
				if len(open) != 0 {
					t.Fatalf("suggestions after an auto-merge: %v", open)
				}
				// Requests from the browser now land on the user's lead.
				if got := field(s.ingest(p, "browser-1", nil), "lead", "id"); got != userLead {
					t.Fatalf("browser-1 request landed on %v", got)
				}
			} else {
				if anonLead["status"] != "active" || !slices.Equal(mergeE2EStrings(lead["user_ids"]), []string{"user-42"}) {
					t.Fatalf("merged with auto_merge off: user %v, anonymous %v", lead, anonLead)
				}
				if len(open) != 1 || open[0]["detector"] != "identify" || open[0]["score"] != float64(1) ||
					open[0]["reason"] != "same browser as a verified user id" ||
					!slices.Contains(mergeE2EStrings(open[0]["lead_ids"]), anon) || !slices.Contains(mergeE2EStrings(open[0]["lead_ids"]), userLead) {
					t.Fatalf("suggestions %v", open)
				}
			}
			if l := s.must(200, "GET", p.leadsPath+"/"+lookalike, p.Agent, nil); l["status"] != "active" {
				t.Fatalf("a lead was merged on an email match: %v", l)
			}

			// Another verified user on the same browser never takes that
			// lead: it carries user-42's verified identity now (verified) or
			// is suggested again (off).
			r = s.must(200, "POST", p.path("/identify"), p.Ingest, map[string]any{"user_id": "user-43",
				"user_hash": mergeE2EHash(secret, "user-43"), "anonymous_id": "browser-1"})
			other := r["lead"].(map[string]any)
			if other["id"] == userLead || !slices.Equal(mergeE2EStrings(other["user_ids"]), []string{"user-43"}) {
				t.Fatalf("user-43 took another identity's lead: %v", other)
			}
			if mode == "verified" {
				if l := s.must(200, "GET", p.leadsPath+"/"+userLead, p.Agent, nil); l["status"] != "active" {
					t.Fatalf("user-42's lead was merged into user-43's: %v", l)
				}
			}
			open = items(s.must(200, "GET", p.path("/duplicates"), p.Agent, nil))
			if len(open) == 0 || !slices.Contains(mergeE2EStrings(open[0]["lead_ids"]), other["id"].(string)) {
				t.Fatalf("no suggestion for user-43: %v", open)
			}
			// Missing user_hash is a 400, not a 401.
			if r := s.do("POST", p.path("/identify"), p.Ingest, map[string]any{"user_id": "user-44"}); r.Status != 400 {
				t.Fatalf("missing hash: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// Review: suggestions (made by detectors through the store, as the plugin
// host does) listed newest first with both leads, paged, dismissed.
func TestDuplicatesReviewE2E(t *testing.T) {
	s := startServer(t)
	p := s.newProject("acme")
	ctx := context.Background()
	var leads []string
	for _, u := range []string{"A", "B", "C", "D"} {
		leads = append(leads, field(s.ingest(p, u, map[string]any{"fullname": "Person " + u, "email": "p@example.com"}), "lead", "id").(string))
	}
	var ids []string
	for _, other := range leads[1:] {
		d, created, err := s.srv.store.SuggestDuplicate(ctx, p.ID, core.Suggestion{LeadID: other, CandidateID: leads[0], Score: 0.9, Reason: "same email", Detector: "email"})
		if err != nil || !created {
			t.Fatal(created, err)
		}
		ids = append(ids, d.ID)
	}
	page := s.must(200, "GET", p.path("/duplicates?limit=2"), p.Agent, nil)
	first := items(page)
	cursor, _ := page["next_cursor"].(string)
	if len(first) != 2 || cursor == "" || first[0]["id"] != ids[2] || first[1]["id"] != ids[1] {
		t.Fatalf("first page %v", page)
	}
	summaries, _ := first[0]["leads"].([]any)
	if len(summaries) != 2 {
		t.Fatalf("summaries %v", first[0])
	}
	for _, x := range summaries {
		sm := x.(map[string]any)
		if !strings.HasPrefix(sm["fullname"].(string), "Person ") || sm["email"] != "p@example.com" || sm["requests_count"] != float64(1) || sm["status"] != "active" {
			t.Fatalf("summary %v", sm)
		}
	}
	page = s.must(200, "GET", p.path("/duplicates?limit=2&cursor="+url.QueryEscape(cursor)), p.Agent, nil)
	if rest := items(page); len(rest) != 1 || rest[0]["id"] != ids[0] || page["next_cursor"] != nil {
		t.Fatalf("second page %v", page)
	}
	d := s.must(200, "POST", p.path("/duplicates/"+ids[0]+"/dismiss"), p.Agent, nil)
	if d["id"] != ids[0] || d["status"] != "dismissed" {
		t.Fatalf("dismiss answer %v", d)
	}
	if r := s.do("POST", p.path("/duplicates/"+ids[0]+"/dismiss"), p.Agent, nil); r.Status != 409 {
		t.Fatalf("second dismiss: %d %s", r.Status, r.Raw)
	}
	if got := items(s.must(200, "GET", p.path("/duplicates?status=dismissed"), p.Agent, nil)); len(got) != 1 || got[0]["id"] != ids[0] {
		t.Fatalf("dismissed list %v", got)
	}
	if _, created, err := s.srv.store.SuggestDuplicate(ctx, p.ID, core.Suggestion{LeadID: leads[0], CandidateID: leads[1], Score: 1, Detector: "other"}); err != nil || created {
		t.Fatalf("a dismissed pair was suggested again: %v %v", created, err)
	}
	// Merging closes the suggestions of the merged lead.
	s.must(200, "POST", p.leadsPath+"/"+leads[0]+"/merge", p.Agent, map[string]any{"from": []string{leads[2]}})
	if got := items(s.must(200, "GET", p.path("/duplicates?status=merged"), p.Agent, nil)); len(got) != 1 || got[0]["id"] != ids[1] {
		t.Fatalf("merged list %v", got)
	}
	if got := items(s.must(200, "GET", p.path("/duplicates"), p.Agent, nil)); len(got) != 1 || got[0]["id"] != ids[2] {
		t.Fatalf("open list %v", got)
	}
	if r := s.do("GET", p.path("/duplicates?status=closed"), p.Agent, nil); r.Status != 400 {
		t.Fatalf("bad status: %d", r.Status)
	}
}

// Tenancy and roles of every new route: another project's keys get 404 and
// change nothing; an ingest key gets 403 on the agent routes.
func TestMergeRoutesTenancyE2E(t *testing.T) {
	s := startServer(t)
	p := s.newProject("acme")
	q := s.newProject("other")
	ctx := context.Background()
	a := field(s.ingest(p, "A", nil), "lead", "id").(string)
	b := field(s.ingest(p, "B", nil), "lead", "id").(string)
	c := field(s.ingest(p, "C", nil), "lead", "id").(string)
	d, _, err := s.srv.store.SuggestDuplicate(ctx, p.ID, core.Suggestion{LeadID: a, CandidateID: b, Score: 1, Detector: "email"})
	if err != nil {
		t.Fatal(err)
	}
	mergeID := s.must(200, "POST", p.leadsPath+"/"+a+"/merge", p.Agent, map[string]any{"from": []string{c}})["merge_id"].(string)
	secret := s.must(200, "GET", p.path("/identity-secret"), p.Admin, nil)["secret"].(string)

	routes := []struct {
		method, path string
		body         any
		agent        bool // needs at least agent
	}{
		{"GET", "/duplicates", nil, true},
		{"GET", "/duplicates?status=merged", nil, true},
		{"POST", "/duplicates/" + d.ID + "/dismiss", nil, true},
		{"POST", "/merges/" + mergeID + "/undo", nil, true},
		{"POST", "/leads/" + a + "/merge", map[string]any{"from": []string{b}}, true},
		{"POST", "/identify", map[string]any{"user_id": "user-1", "user_hash": mergeE2EHash(secret, "user-1"), "anonymous_id": "B"}, false},
	}
	before := s.mergeE2EState(p)
	for _, rt := range routes {
		for _, key := range []string{q.Admin, q.Agent, q.Ingest} {
			if r := s.do(rt.method, p.path(rt.path), key, rt.body); r.Status != 404 {
				t.Errorf("%s %s with another project's key: %d, want 404: %s", rt.method, rt.path, r.Status, r.Raw)
			}
		}
		// The other project's own path with this project's ids.
		if r := s.do(rt.method, q.path(rt.path), q.Admin, rt.body); rt.path != "/duplicates" && rt.path != "/duplicates?status=merged" &&
			r.Status != 404 && !(rt.path == "/identify" && r.Status == 401) {
			t.Errorf("%s %s on the other project with this project's ids: %d: %s", rt.method, rt.path, r.Status, r.Raw)
		}
		if rt.agent {
			if r := s.do(rt.method, p.path(rt.path), p.Ingest, rt.body); r.Status != 403 {
				t.Errorf("%s %s with an ingest key: %d, want 403", rt.method, rt.path, r.Status)
			}
		}
	}
	if got := items(s.must(200, "GET", q.path("/duplicates"), q.Agent, nil)); len(got) != 0 {
		t.Errorf("the other project lists this project's suggestions: %v", got)
	}
	if after := s.mergeE2EState(p); after != before {
		t.Fatalf("refused calls changed the project:\n%s\n%s", before, after)
	}
	// The same calls with this project's keys succeed.
	for _, rt := range routes {
		if r := s.do(rt.method, p.path(rt.path), p.Agent, rt.body); r.Status != 200 {
			t.Errorf("%s %s as agent: %d %s", rt.method, rt.path, r.Status, r.Raw)
		}
	}
}
