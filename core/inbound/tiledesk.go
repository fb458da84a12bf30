package inbound

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// tiledeskSecretHeader carries the subscription secret itself: Tiledesk
// does not sign the body.
const tiledeskSecretHeader = "X-Hook-Secret"

// checkTiledesk compares x-hook-secret with the channel's secret in constant
// time (both hashed first, so their lengths leak nothing either).
func checkTiledesk(secret string, h http.Header) string {
	got := h.Get(tiledeskSecretHeader)
	if got == "" {
		return ResultBadSignature
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return ResultBadSignature
	}
	return ""
}

type tdLead struct {
	ID         flexString     `json:"_id"`
	LeadID     flexString     `json:"lead_id"`
	Fullname   *string        `json:"fullname"`
	Email      *string        `json:"email"`
	Phone      *string        `json:"phone"`
	Attributes map[string]any `json:"attributes"`
}

// tdLeadRef is a lead, or its bare id when Tiledesk failed to load it.
type tdLeadRef struct {
	*tdLead
	Bare string
}

func (r *tdLeadRef) UnmarshalJSON(b []byte) error {
	return refUnmarshal(b, &r.Bare, func() any { r.tdLead = &tdLead{}; return r.tdLead })
}

type tdRequester struct {
	UUIDUser flexString `json:"uuid_user"`
}

type tdRequesterRef struct {
	*tdRequester
	Bare string
}

func (r *tdRequesterRef) UnmarshalJSON(b []byte) error {
	return refUnmarshal(b, &r.Bare, func() any { r.tdRequester = &tdRequester{}; return r.tdRequester })
}

type tdDepartment struct {
	Name string `json:"name"`
}

type tdDepartmentRef struct {
	*tdDepartment
	Bare string
}

func (r *tdDepartmentRef) UnmarshalJSON(b []byte) error {
	return refUnmarshal(b, &r.Bare, func() any { r.tdDepartment = &tdDepartment{}; return r.tdDepartment })
}

// refUnmarshal reads a linked record: an object, a bare id string, or null.
func refUnmarshal(b []byte, bare *string, obj func() any) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		return json.Unmarshal(b, bare)
	default:
		return json.Unmarshal(b, obj())
	}
}

type tdRequest struct {
	RequestID  flexString      `json:"request_id"`
	ID         flexString      `json:"_id"`
	Status     flexString      `json:"status"`
	FirstText  *string         `json:"first_text"`
	Lead       tdLeadRef       `json:"lead"`
	Requester  tdRequesterRef  `json:"requester"`
	Department tdDepartmentRef `json:"department"`
	Channel    *struct {
		Name string `json:"name"`
	} `json:"channel"`
	Snapshot *struct {
		Lead      tdLeadRef      `json:"lead"`
		Requester tdRequesterRef `json:"requester"`
	} `json:"snapshot"`
	Attributes map[string]any `json:"attributes"`
	SourcePage string         `json:"sourcePage"`
	Language   string         `json:"language"`
	TicketID   flexString     `json:"ticket_id"`
}

// tdRequestRef is a request, or its bare id.
type tdRequestRef struct {
	*tdRequest
	Bare string
}

func (r *tdRequestRef) UnmarshalJSON(b []byte) error {
	return refUnmarshal(b, &r.Bare, func() any { r.tdRequest = &tdRequest{}; return r.tdRequest })
}

type tdMessage struct {
	Sender    flexString   `json:"sender"`
	Recipient flexString   `json:"recipient"`
	Text      *string      `json:"text"`
	Request   tdRequestRef `json:"request"`
}

// lead is the request's lead object, wherever Tiledesk put it.
func (r *tdRequest) lead() *tdLead {
	if r.Lead.tdLead != nil && r.Lead.LeadID != "" {
		return r.Lead.tdLead
	}
	if r.Snapshot != nil && r.Snapshot.Lead.tdLead != nil && r.Snapshot.Lead.LeadID != "" {
		return r.Snapshot.Lead.tdLead
	}
	return nil
}

// userID is the visitor's user id: the lead's lead_id, or when the lead
// came as a bare id, the requester's uuid_user or the widget's
// requester_id attribute.
func (r *tdRequest) userID() string {
	if l := r.lead(); l != nil {
		return string(l.LeadID)
	}
	if r.Requester.tdRequester != nil && r.Requester.UUIDUser != "" {
		return string(r.Requester.UUIDUser)
	}
	if r.Snapshot != nil && r.Snapshot.Requester.tdRequester != nil && r.Snapshot.Requester.UUIDUser != "" {
		return string(r.Snapshot.Requester.UUIDUser)
	}
	if s, ok := r.Attributes["requester_id"].(string); ok {
		return s
	}
	return ""
}

func (r *tdRequest) id() string {
	return strings.TrimSpace(string(r.RequestID))
}

// requestOp is the request to ingest, nil when the visitor cannot be told.
func (r *tdRequest) requestOp() *RequestOp {
	uid := strings.TrimSpace(r.userID())
	if uid == "" || r.id() == "" {
		return nil
	}
	attrs := map[string]any{}
	put(attrs, "tiledesk_id", r.ID)
	put(attrs, "ticket_id", r.TicketID)
	put(attrs, "source_page", r.SourcePage)
	put(attrs, "language", r.Language)
	if r.Department.tdDepartment != nil {
		put(attrs, "department", r.Department.Name)
	}
	if r.Channel != nil {
		put(attrs, "tiledesk_channel", r.Channel.Name)
	}
	op := &RequestOp{ID: r.id(), UserID: uid, Channel: "tiledesk", Attributes: attrs}
	if r.FirstText != nil {
		op.FirstText = clip(*r.FirstText, maxFirstText)
	}
	if l := r.lead(); l != nil {
		op.Lead.Fullname, op.Lead.Email, op.Lead.Phone = nonEmpty(l.Fullname), nonEmpty(l.Email), nonEmpty(l.Phone)
		cleanFields(&op.Lead)
		op.LeadAttributes = l.Attributes
	}
	return op
}

// ParseTiledesk reads a Tiledesk subscription delivery into a plan:
//
//   - lead.create (and lead.update): the lead of lead_id, created or updated.
//   - request.create: the request, on the lead of its lead's lead_id, with
//     the lead's fields.
//   - message.create: a visitor's message (sender = the lead's lead_id)
//     counts on its request; agents' and bots' do not.
//   - request.close: the request is closed (a second close changes
//     nothing).
//
// Linked records (lead, requester, department, request) may arrive as bare
// id strings. Other events are accepted and ignored.
func ParseTiledesk(body []byte) (*Plan, error) {
	var env struct {
		Payload json.RawMessage `json:"payload"`
		Hook    *struct {
			Event string `json:"event"`
		} `json:"hook"`
	}
	if err := decodeObject(body, &env); err != nil {
		return nil, err
	}
	if env.Hook == nil || env.Hook.Event == "" {
		return nil, unreadable("no hook.event")
	}
	p := &Plan{Event: env.Hook.Event}
	needPayload := func(dst any) error {
		if len(bytes.TrimSpace(env.Payload)) == 0 {
			return unreadable("no payload")
		}
		return decodeObject(env.Payload, dst)
	}
	switch env.Hook.Event {
	case "lead.create", "lead.update", "lead.fullname.email.update":
		var l tdLead
		if err := needPayload(&l); err != nil {
			return nil, err
		}
		uid := strings.TrimSpace(string(l.LeadID))
		if uid == "" {
			return nil, unreadable("a lead without lead_id")
		}
		op := &LeadOp{UserID: uid, Attributes: l.Attributes, Create: true, UpdateExisting: true}
		op.Fields.Fullname, op.Fields.Email, op.Fields.Phone = nonEmpty(l.Fullname), nonEmpty(l.Email), nonEmpty(l.Phone)
		cleanFields(&op.Fields)
		p.Lead = op
	case "request.create", "request.close":
		var r tdRequest
		if err := needPayload(&r); err != nil {
			return nil, err
		}
		if r.id() == "" {
			return nil, unreadable("a request without request_id")
		}
		p.Request = r.requestOp()
		if env.Hook.Event == "request.close" || r.Status == "1000" {
			closed := "closed"
			p.Status = &StatusOp{RequestID: r.id(), Status: &closed, Optional: true}
		}
	case "message.create":
		var m tdMessage
		if err := needPayload(&m); err != nil {
			return nil, err
		}
		reqID := strings.TrimSpace(string(m.Recipient))
		if m.Request.tdRequest != nil && m.Request.id() != "" {
			reqID = m.Request.id()
			p.Request = m.Request.requestOp()
		} else if m.Request.Bare != "" && reqID == "" {
			reqID = m.Request.Bare
		}
		if reqID == "" {
			return nil, unreadable("a message without its request")
		}
		sender := strings.TrimSpace(string(m.Sender))
		text := ""
		if m.Text != nil {
			text = *m.Text
		}
		op := &MessageOp{RequestID: reqID, Sender: sender, Text: text, Optional: true}
		if p.Request != nil {
			if sender == p.Request.UserID {
				p.Message = op
			}
		} else if sender != "" {
			op.VisitorOnly = true
			p.Message = op
		}
	}
	return p, nil
}
