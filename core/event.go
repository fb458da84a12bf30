package core

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// Event types. Every change to a lead or a request is written as one of these
// in the same transaction as the change.
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
)

// EventTypes lists every event type, for validation of subscriptions.
var EventTypes = []string{
	EventLeadCreated, EventLeadUpdated, EventLeadDeleted, EventLeadRestored,
	EventLeadMerged, EventLeadUnmerged, EventRequestCreated, EventRequestUpdated,
	EventRequestClosed, EventDuplicateDetected,
}

// Change is one field's old and new value.
type Change struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// Changes maps a field name (attributes as "attributes.key") to its change.
type Changes map[string]Change

// Event is one entry of a lead's timeline, and the input of plugins and
// outbound webhooks. Data holds the lead (and request) as the API shows them at
// the time of the event.
type Event struct {
	ID        string          `json:"id"`
	ProjectID string          `json:"-"`
	LeadID    string          `json:"-"`
	RequestID string          `json:"-"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Actor     string          `json:"actor"`
	Changes   Changes         `json:"changes,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// EventData is the shape of Event.Data.
type EventData struct {
	Lead       *Lead          `json:"lead,omitempty"`
	Request    *Request       `json:"request,omitempty"`
	MergedIDs  []string       `json:"merged_ids,omitempty"`
	MergedInto string         `json:"merged_into,omitempty"`
	Extra      map[string]any `json:"extra,omitempty"`
}

// EventHook runs inside the transaction that writes events, so that work which
// follows an event (plugin calls, webhook deliveries) is enqueued atomically
// with the change. An error rolls the change back.
type EventHook interface {
	OnEvents(ctx context.Context, tx *sql.Tx, events []Event) error
}

// Actors that are not keys.
const (
	ActorSystem = "system"
)

// ChannelActor names an inbound channel in events.
func ChannelActor(channelID string) string { return "channel:" + channelID }

// PluginActor names a plugin in events.
func PluginActor(name string) string { return "plugin:" + name }
