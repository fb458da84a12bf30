// Package inbound receives chat platforms' webhooks on channels (Chatwoot,
// Tiledesk, and Leadhub's own generic format): it checks each delivery's
// signature over the raw body, reads the body into a plan of changes, and
// applies the plan through the same services as the REST API, in one
// transaction with the sender's delivery id, so a replay is a no-op.
//
// Adapters are pure: Parse* turns a body into a Plan without touching the
// store, which is what the fuzz targets exercise.
package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/leadhub/leadhub/core"
)

// Plan is what one delivery asks for, applied in field order: the lead, the
// request, a message on it, its status. An empty plan (an event Leadhub does
// not act on) is accepted and changes nothing.
type Plan struct {
	Event   string // the sender's event name, for logs
	Lead    *LeadOp
	Request *RequestOp
	Message *MessageOp
	Status  *StatusOp
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return p.Lead == nil && p.Request == nil && p.Message == nil && p.Status == nil
}

// LeadOp finds the lead holding UserID (or one of Also), creates it when
// none does and Create is set, updates its fields, and gives it every one of
// the user ids that no other lead holds.
type LeadOp struct {
	UserID     string
	Also       []string // more user ids of the same person (Chatwoot's identifier)
	Fields     core.LeadFields
	Attributes map[string]any
	Tags       *[]string
	// Create the lead when no lead holds any of the user ids.
	Create bool
	// UpdateExisting applies Fields, Attributes and Tags to a lead that
	// exists; without it an existing lead is left as it is.
	UpdateExisting bool
}

// RequestOp ingests a request as POST /requests does: a request id seen
// before changes nothing.
type RequestOp struct {
	ID             string
	UserID         string
	Channel        string
	FirstText      string
	Attributes     map[string]any
	Lead           core.LeadFields
	LeadAttributes map[string]any
}

// MessageOp counts one message on a request.
type MessageOp struct {
	RequestID string
	Sender    string
	Text      string
	// VisitorOnly counts the message only when Sender is the request's user
	// id (the visitor's, not an agent's or a bot's).
	VisitorOnly bool
	// Optional: a request that does not exist makes the message ignored
	// rather than the delivery refused.
	Optional bool
}

// StatusOp changes a request's status or attributes.
type StatusOp struct {
	RequestID  string
	Status     *string
	Attributes map[string]any
	Optional   bool // as in MessageOp
}

// errUnreadable wraps what makes a body unreadable: the delivery is refused
// with 400 and changes nothing.
func unreadable(format string, args ...any) error {
	return core.Errorf(core.EINVALID, "unreadable payload: "+format, args...)
}

// flexString takes a JSON string, number or boolean as a string, and null
// as "": senders mix them (ids as numbers, types as numbers or names).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0, string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case string(b) == "true", string(b) == "false":
		*f = flexString(b)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return errors.New("want a string or a number")
		}
		*f = flexString(n.String())
	}
	return nil
}

// decodeObject reads a JSON object into dst, refusing anything else.
func decodeObject(body []byte, dst any) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return unreadable("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return unreadable("%v", err)
	}
	if dec.More() {
		return unreadable("trailing data after the JSON object")
	}
	return nil
}

// cleanFields drops field values the store would refuse (a malformed email,
// a phone with no digits, an over-long name): a chat platform's loose data
// must not cost the whole delivery.
func cleanFields(f *core.LeadFields) {
	for _, p := range []**string{&f.Fullname, &f.Lastname, &f.Email, &f.Phone, &f.Company} {
		if *p == nil {
			continue
		}
		v := strings.TrimSpace(**p)
		errs := map[string]string{}
		probe := core.LeadFields{}
		switch p {
		case &f.Email:
			probe.Email = &v
		case &f.Phone:
			probe.Phone = &v
		default:
			probe.Fullname = &v
		}
		core.ValidateFields(probe, errs)
		if len(errs) > 0 {
			*p = nil
			continue
		}
		*p = &v
	}
}

// nonEmpty is a pointer to s when s has something in it, else nil.
func nonEmpty(s *string) *string {
	if s == nil || strings.TrimSpace(*s) == "" {
		return nil
	}
	v := strings.TrimSpace(*s)
	return &v
}

// maxFirstText is what the store keeps of a request's first text.
const maxFirstText = 16 << 10

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// put sets m[k] = v when v is not empty.
func put(m map[string]any, k string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if x == "" {
			return
		}
	case flexString:
		if x == "" {
			return
		}
		v = string(x)
	}
	m[k] = v
}
