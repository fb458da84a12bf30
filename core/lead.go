package core

import (
	"context"
	"time"
)

// Lead statuses.
const (
	LeadActive  = "active"
	LeadDeleted = "deleted"
	LeadMerged  = "merged"
)

// Lead (a contact in a UI) is everything known about one person in a project:
// the user ids it aggregates, its fields, and counters over its requests. Its
// JSON form is the API's.
type Lead struct {
	ID            string         `json:"id"`
	ProjectID     string         `json:"project_id"`
	UserIDs       []string       `json:"user_ids"`
	Fullname      string         `json:"fullname"`
	Lastname      string         `json:"lastname"`
	Email         string         `json:"email"`
	Phone         string         `json:"phone"`
	Company       string         `json:"company"`
	Attributes    map[string]any `json:"attributes"`
	Tags          []string       `json:"tags"`
	Status        string         `json:"status"`
	MergedInto    *string        `json:"merged_into"`
	RequestsCount int64          `json:"requests_count"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	LastSeenAt    time.Time      `json:"last_seen_at"`
}

// LeadFields are the person's fields that a request or an agent may set. A nil
// pointer leaves the field as it is.
type LeadFields struct {
	Fullname *string
	Lastname *string
	Email    *string
	Phone    *string
	Company  *string
}

// NewLead is a lead created by hand.
type NewLead struct {
	UserID     string // generated when empty
	Fields     LeadFields
	Attributes map[string]any
	Tags       []string
}

// LeadPatch is an RFC 7396 merge patch on a lead: given fields are set,
// Attributes is merged key by key (a nil value removes the key), Tags replaces
// the tags, Status "active" restores a deleted lead.
type LeadPatch struct {
	Fields     LeadFields
	Attributes map[string]any
	Tags       *[]string
	Status     *string
	// ClearAttributes removes every attribute before Attributes applies
	// ("attributes": null in a merge patch).
	ClearAttributes bool
}

// LeadFilter selects leads for a list or a search.
type LeadFilter struct {
	Email  string // exact, case-insensitive
	Q      string // prefix match on names, email, phone, company
	UserID string
	Tag    string
	Status string // default active
	Sort   string // created_at, updated_at, last_seen_at, with "-" for descending
	Limit  int
	Cursor string
}

// Page is one page of a list with the cursor of the next one ("" at the end).
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// Sort orders accepted by LeadFilter.Sort.
var LeadSorts = []string{"created_at", "-created_at", "updated_at", "-updated_at", "last_seen_at", "-last_seen_at"}

// Paging limits.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// LeadService is what agents do with leads.
type LeadService interface {
	// CreateLead creates a lead by hand. EINVALID, ECONFLICT when the user id
	// already belongs to a lead.
	CreateLead(ctx context.Context, projectID string, in NewLead, actor string) (*Lead, error)
	// Lead returns a lead of the project, whatever its status. ENOTFOUND.
	Lead(ctx context.Context, projectID, id string) (*Lead, error)
	// Leads lists and searches. EINVALID for a bad sort, status or cursor.
	Leads(ctx context.Context, projectID string, f LeadFilter) (Page[Lead], error)
	// UpdateLead applies a merge patch. ENOTFOUND, EINVALID, ECONFLICT on a
	// merged lead.
	UpdateLead(ctx context.Context, projectID, id string, p LeadPatch, actor string) (*Lead, error)
	// DeleteLead soft-deletes a lead. ENOTFOUND, ECONFLICT on a merged lead.
	DeleteLead(ctx context.Context, projectID, id, actor string) error
	// LeadRequests lists a lead's requests, newest first. ENOTFOUND.
	LeadRequests(ctx context.Context, projectID, leadID string, limit int, cursor string) (Page[Request], error)
	// LeadEvents lists a lead's timeline, newest first. ENOTFOUND.
	LeadEvents(ctx context.Context, projectID, leadID string, limit int, cursor string) (Page[Event], error)
}
