package sdk

import (
	"context"
	"errors"
)

// Plugin is what every plugin implements, besides the interfaces of the kinds
// it declares (Enricher, DuplicateDetector, EventSink). Embed Base for no-op
// defaults.
type Plugin interface {
	// Describe names the plugin and what it wants. It is called before
	// Configure and must not depend on configuration.
	Describe() Description
	// Configure is called once after start with the plugin's configuration
	// (JSON; nil when there is none) and the host API. Keep host if the
	// plugin needs it later. An error stops the plugin from being used.
	Configure(ctx context.Context, config []byte, host HostAPI) error
}

// Enricher returns changes to make to a lead after an event. Return an empty
// Patch when nothing should change. Calls may run concurrently.
type Enricher interface {
	Enrich(ctx context.Context, ev Event, lead Lead) (Patch, error)
}

// DuplicateDetector returns leads of the same project that may be the same
// person as lead. Calls may run concurrently.
type DuplicateDetector interface {
	Detect(ctx context.Context, ev Event, lead Lead) ([]Candidate, error)
}

// EventSink receives events in batches, at least once: any error makes the
// host deliver the whole batch again later, so Deliver must tolerate events
// it has already seen (Event.ID is stable). Calls may run concurrently.
type EventSink interface {
	Deliver(ctx context.Context, events []Event) error
}

// HostAPI is the host's callback API. Every call takes the project id of the
// event being handled; the host never answers across projects. While handling
// Enrich or Detect, the SDK refuses a project id other than the event's.
type HostAPI interface {
	// GetLead returns a lead by id, in any status, or an error wrapping
	// ErrNotFound.
	GetLead(ctx context.Context, projectID, leadID string) (Lead, error)
	// FindLeadsByEmail returns the leads with this email, compared
	// case-insensitively, in any status.
	FindLeadsByEmail(ctx context.Context, projectID, email string) ([]Lead, error)
	// FindLeadsByNormalizedEmail returns the leads whose CanonicalEmail is
	// canonical, in any status.
	FindLeadsByNormalizedEmail(ctx context.Context, projectID, canonical string) ([]Lead, error)
	// FindLeadsByPhone returns the leads whose normalized phone matches the
	// normalized form of phone, in any status.
	FindLeadsByPhone(ctx context.Context, projectID, phone string) ([]Lead, error)
	// FindLeadByUserID returns the lead holding userID (merged user ids
	// included), or an error wrapping ErrNotFound.
	FindLeadByUserID(ctx context.Context, projectID, userID string) (Lead, error)
}

// ErrNotFound is wrapped by HostAPI errors for a missing lead. A HostAPI
// implementation returns it (or an error wrapping it) to answer NOT_FOUND.
var ErrNotFound = errors.New("not found")

// Base gives a plugin no-op defaults; embed it and override what the plugin
// does. Only the methods of declared kinds are ever called.
type Base struct{}

// Configure accepts any configuration and ignores the host API.
func (Base) Configure(context.Context, []byte, HostAPI) error { return nil }

// Enrich changes nothing.
func (Base) Enrich(context.Context, Event, Lead) (Patch, error) { return Patch{}, nil }

// Detect finds nothing.
func (Base) Detect(context.Context, Event, Lead) ([]Candidate, error) { return nil, nil }

// Deliver accepts and drops the events.
func (Base) Deliver(context.Context, []Event) error { return nil }
