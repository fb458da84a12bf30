package inbound_test

import (
	"testing"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/inbound"
)

// seed adds the fixtures of a platform (when present) and extra bodies.
func seed(f *testing.F, platform string, extra ...string) {
	if p, ok := loadPlatform(platform); ok {
		for _, b := range p.bodies {
			f.Add(b)
		}
	}
	for _, e := range extra {
		f.Add([]byte(e))
	}
}

// checkPlan: a parse either fails as invalid input or yields a plan whose
// operations name what they act on.
func checkPlan(t *testing.T, p *inbound.Plan, err error) {
	t.Helper()
	if err != nil {
		if core.ErrorCode(err) != core.EINVALID {
			t.Fatalf("error %v is not an invalid-input error", err)
		}
		if p != nil {
			t.Fatal("a plan with an error")
		}
		return
	}
	if p == nil {
		t.Fatal("no plan and no error")
	}
	if l := p.Lead; l != nil && l.UserID == "" {
		t.Fatalf("lead op without a user id: %+v", l)
	}
	if r := p.Request; r != nil {
		if r.UserID == "" {
			t.Fatalf("request op without a user id: %+v", r)
		}
	}
	if m := p.Message; m != nil && m.RequestID == "" {
		t.Fatalf("message op without a request: %+v", m)
	}
	if st := p.Status; st != nil && st.RequestID == "" {
		t.Fatalf("status op without a request: %+v", st)
	}
}

func FuzzChatwoot(f *testing.F) {
	seed(f, "chatwoot",
		`{"event":"message_created","message_type":"incoming","content":"hi","sender":{"id":1},"conversation":{"id":2,"messages":[]}}`,
		`{"event":"contact_updated","id":"9","identifier":"u-9","changed_attributes":[{"email":{"previous_value":"a@b.co","current_value":null}}]}`,
		`{"event":"conversation_status_changed","id":3,"status":"resolved","meta":{"sender":{"id":4,"type":"contact"}}}`,
		`{"event":"webwidget_triggered"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := inbound.ParseChatwoot(body)
		checkPlan(t, p, err)
	})
}

func FuzzTiledesk(f *testing.F) {
	seed(f, "tiledesk",
		`{"hook":{"event":"request.create"},"payload":{"request_id":"r1","lead":"6a02","requester":"6a03","department":"6a04","attributes":{"requester_id":"u1"}}}`,
		`{"hook":{"event":"message.create"},"payload":{"sender":"u1","recipient":"r1","request":"r1","text":"hi"}}`,
		`{"hook":{"event":"lead.create"},"payload":{"lead_id":"u1","fullname":"A","email":"a@b.co"}}`,
		`{"hook":{"event":"request.close"},"payload":{"request_id":"r1","status":1000,"snapshot":{"lead":{"lead_id":"u1"}}}}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := inbound.ParseTiledesk(body)
		checkPlan(t, p, err)
	})
}

func FuzzGeneric(f *testing.F) {
	seed(f, "generic",
		`{"type":"request.created","data":{"id":"r1","user_id":"u1","first_text":"hi","lead":{"email":"a@b.co","attributes":{"plan":"pro"}}}}`,
		`{"type":"message.created","data":{"request_id":"r1","sender":"u1","text":"hi"}}`,
		`{"type":"request.updated","data":{"id":"r1","status":"closed"}}`,
		`{"id":"evt_1","type":"lead.updated","created_at":"2026-05-12T09:00:00Z","data":{"user_id":"u1","lead":{"tags":["vip"]}}}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := inbound.ParseGeneric(body)
		checkPlan(t, p, err)
	})
}
