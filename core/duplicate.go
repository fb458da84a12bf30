package core

import (
	"context"
	"time"
)

// Duplicate suggestion statuses.
const (
	DuplicateOpen      = "open"
	DuplicateDismissed = "dismissed"
	DuplicateMerged    = "merged"
)

// Duplicate is a suggestion that two leads are one person, made by a detector
// plugin (or by identify without auto-merge). An agent merges or dismisses it.
type Duplicate struct {
	ID        string        `json:"id"`
	ProjectID string        `json:"-"`
	LeadIDs   []string      `json:"lead_ids"`
	Reason    string        `json:"reason"`
	Score     float64       `json:"score"`
	Detector  string        `json:"detector"`
	Status    string        `json:"status"`
	CreatedAt time.Time     `json:"created_at"`
	Leads     []LeadSummary `json:"leads,omitempty"`
}

// LeadSummary is enough of a lead to review a suggestion without fetching it.
type LeadSummary struct {
	ID            string `json:"id"`
	Fullname      string `json:"fullname"`
	Email         string `json:"email"`
	RequestsCount int64  `json:"requests_count"`
	Status        string `json:"status"`
}

// Suggestion is a candidate pair reported by a detector.
type Suggestion struct {
	LeadID      string // the lead the detector examined
	CandidateID string // the lead it resembles
	Score       float64
	Reason      string
	Detector    string
}

// DuplicateService records and reviews suggestions.
type DuplicateService interface {
	// Duplicates lists suggestions by status (default open), newest first.
	// EINVALID for an unknown status or a bad cursor.
	Duplicates(ctx context.Context, projectID, status string, limit int, cursor string) (Page[Duplicate], error)
	// DismissDuplicate closes a suggestion; the pair is not suggested again.
	// ENOTFOUND; ECONFLICT when it is not open.
	DismissDuplicate(ctx context.Context, projectID, id, actor string) (*Duplicate, error)
	// SuggestDuplicate records a pair once, whichever order its leads come in,
	// and writes duplicate.detected. It returns created=false for a pair
	// already known (open, dismissed or merged) or a pair that is no longer
	// two active leads.
	SuggestDuplicate(ctx context.Context, projectID string, s Suggestion) (d *Duplicate, created bool, err error)
}
