package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/leadhub/leadhub/core"
)

// The generic channel's event types: Leadhub's own format, for senders that
// are neither Chatwoot nor Tiledesk.
const (
	GenericRequestCreated = "request.created"
	GenericRequestUpdated = "request.updated"
	GenericMessageCreated = "message.created"
	GenericLeadUpdated    = "lead.updated"
)

// genericLead are the API's lead fields.
type genericLead struct {
	Fullname   *string        `json:"fullname"`
	Lastname   *string        `json:"lastname"`
	Email      *string        `json:"email"`
	Phone      *string        `json:"phone"`
	Company    *string        `json:"company"`
	Attributes map[string]any `json:"attributes"`
	Tags       *[]string      `json:"tags"`
}

func (l *genericLead) fields() core.LeadFields {
	return core.LeadFields{Fullname: l.Fullname, Lastname: l.Lastname, Email: l.Email, Phone: l.Phone, Company: l.Company}
}

// strict decodes raw into dst refusing unknown fields: it is our own format,
// and a misspelt field should say so.
func strict(raw json.RawMessage, dst any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return unreadable("no data")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return unreadable("data: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return unreadable("trailing data")
	}
	return nil
}

// ParseGeneric reads Leadhub's generic inbound format:
//
//	{"type": "request.created", "data": {"id", "user_id", "channel", "first_text", "attributes", "lead": {…}}}
//	{"type": "message.created", "data": {"request_id", "sender", "text"}}
//	{"type": "request.updated", "data": {"id", "status", "attributes"}}
//	{"type": "lead.updated",    "data": {"user_id", "lead": {"fullname", …, "attributes", "tags"}}}
//
// data holds the REST API's fields: request.created is POST /requests,
// message.created is POST /requests/{id}/messages, request.updated is PATCH
// /requests/{id}, and lead.updated a merge patch on the lead of user_id,
// created when no lead holds it. "id" and "created_at" may accompany
// "type" and are not read.
func ParseGeneric(body []byte) (*Plan, error) {
	var env struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt any             `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return nil, unreadable("not a JSON object")
	}
	if err := strict(b, &env); err != nil {
		return nil, err
	}
	p := &Plan{Event: env.Type}
	switch env.Type {
	case GenericRequestCreated:
		var d struct {
			ID         string         `json:"id"`
			UserID     string         `json:"user_id"`
			Channel    string         `json:"channel"`
			FirstText  string         `json:"first_text"`
			Attributes map[string]any `json:"attributes"`
			Lead       *genericLead   `json:"lead"`
		}
		if err := strict(env.Data, &d); err != nil {
			return nil, err
		}
		if strings.TrimSpace(d.UserID) == "" {
			return nil, core.Invalid(map[string]string{"data.user_id": "required"})
		}
		op := &RequestOp{ID: d.ID, UserID: d.UserID, Channel: d.Channel, FirstText: d.FirstText, Attributes: d.Attributes}
		if d.Lead != nil {
			if d.Lead.Tags != nil {
				return nil, core.Invalid(map[string]string{"data.lead.tags": "not taken with a request; send lead.updated"})
			}
			op.Lead, op.LeadAttributes = d.Lead.fields(), d.Lead.Attributes
		}
		p.Request = op
	case GenericMessageCreated:
		var d struct {
			RequestID string `json:"request_id"`
			Sender    string `json:"sender"`
			Text      string `json:"text"`
		}
		if err := strict(env.Data, &d); err != nil {
			return nil, err
		}
		if strings.TrimSpace(d.RequestID) == "" {
			return nil, core.Invalid(map[string]string{"data.request_id": "required"})
		}
		p.Message = &MessageOp{RequestID: d.RequestID, Sender: d.Sender, Text: d.Text}
	case GenericRequestUpdated:
		var d struct {
			ID         string         `json:"id"`
			Status     *string        `json:"status"`
			Attributes map[string]any `json:"attributes"`
		}
		if err := strict(env.Data, &d); err != nil {
			return nil, err
		}
		if strings.TrimSpace(d.ID) == "" {
			return nil, core.Invalid(map[string]string{"data.id": "required"})
		}
		p.Status = &StatusOp{RequestID: d.ID, Status: d.Status, Attributes: d.Attributes}
	case GenericLeadUpdated:
		var d struct {
			UserID string       `json:"user_id"`
			Lead   *genericLead `json:"lead"`
		}
		if err := strict(env.Data, &d); err != nil {
			return nil, err
		}
		if strings.TrimSpace(d.UserID) == "" {
			return nil, core.Invalid(map[string]string{"data.user_id": "required"})
		}
		if d.Lead == nil {
			d.Lead = &genericLead{}
		}
		p.Lead = &LeadOp{UserID: d.UserID, Fields: d.Lead.fields(), Attributes: d.Lead.Attributes, Tags: d.Lead.Tags,
			Create: true, UpdateExisting: true}
	default:
		return nil, core.Invalid(map[string]string{"type": "one of request.created, request.updated, message.created, lead.updated"})
	}
	return p, nil
}
