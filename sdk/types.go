package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Lead statuses.
const (
	StatusActive  = "active"
	StatusDeleted = "deleted"
	StatusMerged  = "merged"
)

// Event types.
const (
	EventLeadCreated       = "lead.created"
	EventLeadUpdated       = "lead.updated"
	EventLeadDeleted       = "lead.deleted"
	EventLeadRestored      = "lead.restored"
	EventLeadMerged        = "lead.merged"
	EventLeadUnmerged      = "lead.unmerged"
	EventRequestCreated    = "request.created"
	EventRequestUpdated    = "request.updated"
	EventRequestClosed     = "request.closed"
	EventDuplicateDetected = "duplicate.detected"

	// EventAll in Description.EventTypes asks for every event type.
	EventAll = "*"
)

// Lead is a contact as the host stores it. Its JSON form is the one of the
// HTTP API, so a lead in Event.Data decodes into it.
type Lead struct {
	ID        string   `json:"id"`
	ProjectID string   `json:"project_id"`
	UserIDs   []string `json:"user_ids"`
	Fullname  string   `json:"fullname"`
	Lastname  string   `json:"lastname"`
	Email     string   `json:"email"`
	Phone     string   `json:"phone"`
	Company   string   `json:"company"`
	// Attributes hold free-form data. Numbers arriving from the host are
	// json.Number.
	Attributes    map[string]any `json:"attributes"`
	Tags          []string       `json:"tags"`
	Status        string         `json:"status"`
	MergedInto    string         `json:"merged_into"`
	RequestsCount int64          `json:"requests_count"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	// LastSeenAt is zero when the lead was never seen.
	LastSeenAt time.Time `json:"last_seen_at,omitzero"`
}

// Event is an entry of a lead's timeline: what happened, to which lead, by whom.
type Event struct {
	ID        string
	Type      string
	ProjectID string
	LeadID    string
	// RequestID is set when the event is about a request.
	RequestID string
	// Actor made the change: a key, a channel, a plugin, the system.
	Actor     string
	CreatedAt time.Time
	// Changes holds, for updates, the changed fields with old and new values.
	Changes map[string]Change
	// Data is a JSON object: {"lead": {...}, "request": {...}} in the API's
	// JSON forms; for lead.merged {"lead": survivor, "merged_ids": [...]}.
	// DecodeData parses it.
	Data json.RawMessage
}

// Change is the old and new JSON value of one changed field.
type Change struct {
	From json.RawMessage `json:"from"`
	To   json.RawMessage `json:"to"`
}

// EventData is the decoded form of Event.Data.
type EventData struct {
	// Lead is the lead after the change (the survivor for lead.merged).
	Lead *Lead `json:"lead,omitempty"`
	// Request is the request, in the API's JSON form, for request events.
	Request json.RawMessage `json:"request,omitempty"`
	// MergedIDs are the ids of the leads merged into Lead, for lead.merged.
	MergedIDs []string `json:"merged_ids,omitempty"`
}

// DecodeData parses e.Data. Numbers inside attributes become json.Number.
// An empty Data gives an empty EventData.
func (e Event) DecodeData() (EventData, error) {
	var d EventData
	if len(bytes.TrimSpace(e.Data)) == 0 {
		return d, nil
	}
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return EventData{}, fmt.Errorf("decode data of event %s: %w", e.ID, err)
	}
	return d, nil
}

// Patch is what an enricher wants changed on a lead. A nil field is left
// alone; a non-nil one replaces the lead's value (a pointer to "" clears it):
//
//	sdk.Patch{Company: new("Acme Corp")}
type Patch struct {
	Fullname *string
	Lastname *string
	Email    *string
	Phone    *string
	Company  *string
	// Attributes is an RFC 7396 JSON merge patch applied to the lead's
	// attributes: a nil value removes the key, a map merges into the
	// existing object key by key, anything else replaces the value.
	Attributes map[string]any
	// AddTags are added to the lead's tags; existing tags are kept.
	AddTags []string
}

// IsEmpty reports whether p changes nothing.
func (p Patch) IsEmpty() bool {
	return p.Fullname == nil && p.Lastname == nil && p.Email == nil &&
		p.Phone == nil && p.Company == nil && len(p.Attributes) == 0 && len(p.AddTags) == 0
}

// Candidate is a lead that may be the same person as the one being checked.
type Candidate struct {
	LeadID string
	// Score is the confidence, from 0 to 1.
	Score float64
	// Reason says why, for people: "same email".
	Reason string
}

// Kind is something a plugin does.
type Kind string

// Plugin kinds.
const (
	KindEnricher          Kind = "enricher"
	KindDuplicateDetector Kind = "duplicate_detector"
	KindEventSink         Kind = "event_sink"
)

// Description names a plugin and says what it does and wants.
type Description struct {
	Name    string
	Version string
	// Kinds the plugin implements. Calls for other kinds are refused.
	Kinds []Kind
	// EventTypes the plugin wants, e.g. EventLeadCreated; EventAll for all.
	EventTypes []string
	// ProtocolVersion is the plugin protocol spoken. The SDK sets it; a
	// plugin leaves it zero.
	ProtocolVersion int
}

// Has reports whether d declares kind k.
func (d Description) Has(k Kind) bool {
	for _, x := range d.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Wants reports whether d asks for events of the given type.
func (d Description) Wants(eventType string) bool {
	for _, t := range d.EventTypes {
		if t == EventAll || t == eventType {
			return true
		}
	}
	return false
}

// Validate reports what is wrong with d: an empty name, no kinds, an unknown
// kind.
func (d Description) Validate() error {
	if d.Name == "" {
		return fmt.Errorf("describe: empty plugin name")
	}
	if len(d.Kinds) == 0 {
		return fmt.Errorf("describe %s: no kinds", d.Name)
	}
	for _, k := range d.Kinds {
		if _, ok := kindToProto[k]; !ok {
			return fmt.Errorf("describe %s: unknown kind %q", d.Name, k)
		}
	}
	return nil
}
