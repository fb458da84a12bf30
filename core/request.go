package core

import (
	"context"
	"time"
)

// Request statuses.
const (
	RequestOpen   = "open"
	RequestClosed = "closed"
)

// Request is one conversation, opened by a user id and kept on that user id's
// lead. Its JSON form is the API's.
type Request struct {
	ID            string         `json:"id"`
	ProjectID     string         `json:"project_id"`
	LeadID        string         `json:"lead_id"`
	UserID        string         `json:"user_id"`
	Channel       string         `json:"channel"`
	Status        string         `json:"status"`
	FirstText     string         `json:"first_text"`
	Attributes    map[string]any `json:"attributes"`
	MessagesCount int64          `json:"messages_count"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	ClosedAt      *time.Time     `json:"closed_at"`
}

// Ingest is a request arriving from a channel or the API: it finds or creates
// the lead of UserID, applies the lead fields and creates the request.
type Ingest struct {
	ID         string // optional: a retry with the same id creates nothing new
	UserID     string
	Channel    string
	FirstText  string
	Attributes map[string]any
	// Lead fields sent with the request. Empty values are ignored: a request
	// without an email must not erase the email the lead has.
	Lead           LeadFields
	LeadAttributes map[string]any
	Actor          string
}

// IngestResult is what an ingest did.
type IngestResult struct {
	Request Request
	Lead    Lead
	Created bool // false when the request id was seen before
}

// RequestPatch changes a request; nil fields stay.
type RequestPatch struct {
	Status     *string
	Attributes map[string]any // merged key by key, nil value removes
}

// Message counts one message on a request.
type Message struct {
	Sender string
	Text   string
	Actor  string
}

// RequestService is the ingest side: conversations and their messages.
type RequestService interface {
	// IngestRequest aggregates a request onto the lead of its user id.
	// EINVALID; ECONFLICT when the request id exists with another user id.
	IngestRequest(ctx context.Context, projectID string, in Ingest) (*IngestResult, error)
	// Request returns a request. ENOTFOUND.
	Request(ctx context.Context, projectID, id string) (*Request, error)
	// UpdateRequest changes status or attributes; closing sets closed_at.
	// ENOTFOUND, EINVALID.
	UpdateRequest(ctx context.Context, projectID, id string, p RequestPatch, actor string) (*Request, error)
	// AddMessage counts a message and refreshes last_seen_at. ENOTFOUND.
	AddMessage(ctx context.Context, projectID, requestID string, m Message) (*Request, error)
}
