package core

import "context"

// MaxBatchLeads bounds the leads of one batch.
const MaxBatchLeads = 1000

// BatchResult is what became of one lead of a batch: the lead created, or why
// it was not.
type BatchResult struct {
	Lead *Lead
	Err  error
}

// LeadBatchService creates leads in bulk: an import from another system, or a
// first load of a large contact list.
type LeadBatchService interface {
	// CreateLeads creates each lead as CreateLead would, all in one
	// transaction, and reports per lead, in order. One lead's problem
	// (EINVALID; ECONFLICT when its user id belongs to a lead or repeats one
	// earlier in the batch) leaves the others alone. The call itself fails
	// with EINVALID for an empty or too large batch, ENOTFOUND for an unknown
	// project.
	CreateLeads(ctx context.Context, projectID string, in []NewLead, actor string) ([]BatchResult, error)
}
