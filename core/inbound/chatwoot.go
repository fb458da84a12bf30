package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Chatwoot headers.
const (
	chatwootSignature = "X-Chatwoot-Signature"
	chatwootTimestamp = "X-Chatwoot-Timestamp"
	chatwootDelivery  = "X-Chatwoot-Delivery"
)

// Chatwoot ids in Leadhub: one lead per Chatwoot contact, whatever browser
// (source id) it writes from, and one request per conversation.
const (
	chatwootUserPrefix    = "chatwoot:"
	chatwootRequestPrefix = "chatwoot:"
)

// checkChatwoot verifies X-Chatwoot-Signature: "sha256=" and the hex
// HMAC-SHA256(secret, "{X-Chatwoot-Timestamp}.{body}"), with the timestamp
// within tolerance. unsigned is true for a delivery without a signature
// that the channel accepts (allow_unsigned).
func checkChatwoot(secret string, allowUnsigned bool, h http.Header, body []byte, now time.Time, tolerance time.Duration) (unsigned bool, result string) {
	sig := h.Get(chatwootSignature)
	if sig == "" {
		if allowUnsigned {
			return true, ""
		}
		return false, ResultBadSignature
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return false, ResultBadSignature
	}
	tsText := h.Get(chatwootTimestamp)
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return false, ResultBadSignature
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(tsText))
	m.Write([]byte{'.'})
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return false, ResultBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false, ResultStale
	}
	return false, ""
}

type cwContact struct {
	ID               flexString     `json:"id"`
	Name             *string        `json:"name"`
	Email            *string        `json:"email"`
	Phone            *string        `json:"phone_number"`
	Identifier       flexString     `json:"identifier"`
	CustomAttributes map[string]any `json:"custom_attributes"`
	Type             string         `json:"type"`
}

type cwMessage struct {
	ID           flexString      `json:"id"`
	Content      *string         `json:"content"`
	MessageType  flexString      `json:"message_type"`
	Private      bool            `json:"private"`
	SenderType   string          `json:"sender_type"`
	Sender       *cwContact      `json:"sender"`
	Conversation *cwConversation `json:"conversation"`
}

type cwConversation struct {
	ID           flexString `json:"id"`
	InboxID      flexString `json:"inbox_id"`
	Status       string     `json:"status"`
	Channel      string     `json:"channel"`
	ContactInbox struct {
		ContactID flexString `json:"contact_id"`
		SourceID  flexString `json:"source_id"`
	} `json:"contact_inbox"`
	Meta struct {
		Sender *cwContact `json:"sender"`
	} `json:"meta"`
	Messages             []cwMessage    `json:"messages"`
	AdditionalAttributes map[string]any `json:"additional_attributes"`
}

type cwChange map[string]struct {
	Previous any `json:"previous_value"`
	Current  any `json:"current_value"`
}

// incoming: message_type 0 or "incoming" is the visitor's.
func (m *cwMessage) incoming() bool {
	return (m.MessageType == "0" || m.MessageType == "incoming") && !m.Private
}

// ParseChatwoot reads a Chatwoot account webhook into a plan.
//
//   - contact_created: a lead, only when the contact has an email, a phone
//     or an identifier (an anonymous widget load creates nothing).
//   - contact_updated: the same, and the fields of a lead that exists.
//   - conversation_created: the lead and the request.
//   - message_created: an incoming message counts on its request, which is
//     created from the message's conversation if it came first.
//   - conversation_status_changed: resolved closes the request, open
//     reopens it.
//
// Other events are accepted and ignored.
func ParseChatwoot(body []byte) (*Plan, error) {
	var head struct {
		Event string `json:"event"`
	}
	if err := decodeObject(body, &head); err != nil {
		return nil, err
	}
	p := &Plan{Event: head.Event}
	switch head.Event {
	case "contact_created", "contact_updated":
		var c struct {
			cwContact
			Changed []cwChange `json:"changed_attributes"`
		}
		if err := decodeObject(body, &c); err != nil {
			return nil, err
		}
		op, err := chatwootLead(&c.cwContact, "")
		if err != nil {
			return nil, err
		}
		op.Create = op.Fields.Email != nil || op.Fields.Phone != nil || len(op.Also) > 0
		if head.Event == "contact_updated" {
			op.UpdateExisting = true
			empty := ""
			for _, ch := range c.Changed {
				for attr, v := range ch {
					if v.Current != nil {
						continue
					}
					switch attr {
					case "email":
						op.Fields.Email = &empty
					case "phone_number":
						op.Fields.Phone = &empty
					}
				}
			}
		}
		if op.Create || op.UpdateExisting {
			p.Lead = op
		}
	case "conversation_created", "conversation_updated", "conversation_status_changed":
		var conv cwConversation
		if err := decodeObject(body, &conv); err != nil {
			return nil, err
		}
		if err := chatwootConversation(p, &conv, nil); err != nil {
			return nil, err
		}
		if head.Event == "conversation_status_changed" || head.Event == "conversation_created" {
			var status string
			switch conv.Status {
			case "resolved":
				status = "closed"
			case "open":
				status = "open"
			}
			if status != "" && (head.Event == "conversation_status_changed" || status == "closed") {
				p.Status = &StatusOp{RequestID: p.Request.ID, Status: &status}
			}
		}
	case "message_created":
		var m cwMessage
		if err := decodeObject(body, &m); err != nil {
			return nil, err
		}
		if !m.incoming() {
			return p, nil
		}
		if m.Conversation == nil {
			return nil, unreadable("message_created without its conversation")
		}
		if err := chatwootConversation(p, m.Conversation, m.Sender); err != nil {
			return nil, err
		}
		text := ""
		if m.Content != nil {
			text = clip(*m.Content, maxFirstText)
		}
		if p.Request.FirstText == "" {
			p.Request.FirstText = text
		}
		p.Message = &MessageOp{RequestID: p.Request.ID, Sender: p.Request.UserID, Text: text}
	}
	return p, nil
}

// chatwootLead is the lead of a contact; the contact must have an id.
func chatwootLead(c *cwContact, fallbackID flexString) (*LeadOp, error) {
	id := c.ID
	if id == "" {
		id = fallbackID
	}
	if id == "" {
		return nil, unreadable("a contact without an id")
	}
	op := &LeadOp{UserID: chatwootUserPrefix + string(id), Attributes: c.CustomAttributes}
	op.Fields.Fullname, op.Fields.Email, op.Fields.Phone = nonEmpty(c.Name), nonEmpty(c.Email), nonEmpty(c.Phone)
	cleanFields(&op.Fields)
	if ident := strings.TrimSpace(string(c.Identifier)); ident != "" && len(ident) <= 256 {
		op.Also = []string{ident}
	}
	return op, nil
}

// chatwootConversation plans the lead and the request of a conversation.
// sender, when known, is the contact who wrote a message in it.
func chatwootConversation(p *Plan, conv *cwConversation, sender *cwContact) error {
	if conv.ID == "" {
		return unreadable("a conversation without an id")
	}
	contact := conv.Meta.Sender
	if sender != nil && (contact == nil || contact.ID == "" || contact.ID == sender.ID) {
		contact = sender
	}
	if contact == nil {
		contact = &cwContact{}
	}
	if contact.Type != "" && contact.Type != "contact" {
		return unreadable("the conversation's sender is not a contact")
	}
	lead, err := chatwootLead(contact, conv.ContactInbox.ContactID)
	if err != nil {
		return err
	}
	lead.Create, lead.UpdateExisting = true, true
	p.Lead = lead
	attrs := map[string]any{}
	put(attrs, "chatwoot_conversation_id", conv.ID)
	put(attrs, "chatwoot_inbox_id", conv.InboxID)
	put(attrs, "chatwoot_channel", conv.Channel)
	put(attrs, "chatwoot_source_id", conv.ContactInbox.SourceID)
	if a := conv.AdditionalAttributes; a != nil {
		put(attrs, "referer", a["referer"])
		put(attrs, "browser_language", a["browser_language"])
	}
	first := ""
	for i := range conv.Messages {
		if m := &conv.Messages[i]; m.incoming() && m.Content != nil {
			first = clip(*m.Content, maxFirstText)
			break
		}
	}
	p.Request = &RequestOp{ID: chatwootRequestPrefix + string(conv.ID), UserID: lead.UserID, Channel: "chatwoot",
		FirstText: first, Attributes: attrs}
	return nil
}
