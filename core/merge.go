package core

import "context"

// MergeResult is the survivor of a merge and the id that undoes it.
type MergeResult struct {
	Lead    Lead   `json:"lead"`
	MergeID string `json:"merge_id"`
}

// UndoResult is what an undo restored.
type UndoResult struct {
	Lead     Lead   `json:"lead"`     // the survivor, as it is after the undo
	Restored []Lead `json:"restored"` // the leads that came back
}

// Identify is a claim by an authenticated user id, proven by UserHash =
// hex(HMAC-SHA256(project identity secret, UserID)), to the lead of the
// anonymous id it used in the same browser.
type Identify struct {
	UserID         string
	UserHash       string
	AnonymousID    string
	Lead           LeadFields
	LeadAttributes map[string]any
	Actor          string
}

// MergeService merges leads, undoes merges and handles verified identities.
type MergeService interface {
	// MergeLeads merges the from leads into intoID in one transaction.
	// EINVALID when from holds intoID or is empty; ENOTFOUND; ECONFLICT when
	// a lead is merged or deleted.
	MergeLeads(ctx context.Context, projectID, intoID string, from []string, actor string) (*MergeResult, error)
	// UndoMerge restores the merged leads. ENOTFOUND; ECONFLICT when undone
	// already or when a later merge touched the same leads.
	UndoMerge(ctx context.Context, projectID, mergeID, actor string) (*UndoResult, error)
	// Identify handles a verified identity. EUNAUTHORIZED for a wrong hash.
	Identify(ctx context.Context, projectID string, in Identify) (*Lead, error)
}
