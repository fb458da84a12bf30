package pluginhost

import (
	"context"
	"fmt"
	"sync"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/sdk"
)

// hostAPI is the sdk.HostAPI served to one plugin. It answers only about the
// projects of the events that plugin is handling at the moment (registered by
// enter around every call), so a plugin can never read across projects, nor
// read at all outside a call; the SDK checks the same on its side, this is
// the check a plugin cannot skip.
type hostAPI struct {
	p *plugin

	mu       sync.Mutex
	projects map[string]int // project id -> calls in flight about it
}

var _ sdk.HostAPI = (*hostAPI)(nil)

// enter allows projects until the returned func is called.
func (a *hostAPI) enter(projects []string) func() {
	if len(projects) == 0 {
		return func() {}
	}
	a.mu.Lock()
	for _, id := range projects {
		a.projects[id]++
	}
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		for _, id := range projects {
			if a.projects[id]--; a.projects[id] <= 0 {
				delete(a.projects, id)
			}
		}
		a.mu.Unlock()
	}
}

func (a *hostAPI) allow(projectID string) error {
	a.mu.Lock()
	n := a.projects[projectID]
	a.mu.Unlock()
	if projectID == "" || n == 0 {
		return fmt.Errorf("plugin %s: project %q is not the project of an event it is handling", a.p.spec.Name, projectID)
	}
	return nil
}

func (a *hostAPI) lookup() Lookup { return a.p.h.opts.Store }

// notFound turns the store's ENOTFOUND into the SDK's ErrNotFound.
func notFound(err error) error {
	if core.ErrorCode(err) == core.ENOTFOUND {
		return fmt.Errorf("%s: %w", core.ErrorMessage(err), sdk.ErrNotFound)
	}
	return err
}

func (a *hostAPI) GetLead(ctx context.Context, projectID, leadID string) (sdk.Lead, error) {
	if err := a.allow(projectID); err != nil {
		return sdk.Lead{}, err
	}
	l, err := a.lookup().Lead(ctx, projectID, leadID)
	if err != nil {
		return sdk.Lead{}, notFound(err)
	}
	return toSDKLead(l), nil
}

func (a *hostAPI) FindLeadsByEmail(ctx context.Context, projectID, email string) ([]sdk.Lead, error) {
	if err := a.allow(projectID); err != nil {
		return nil, err
	}
	return toSDKLeads(a.lookup().LeadsByEmail(ctx, projectID, email))
}

func (a *hostAPI) FindLeadsByNormalizedEmail(ctx context.Context, projectID, canonical string) ([]sdk.Lead, error) {
	if err := a.allow(projectID); err != nil {
		return nil, err
	}
	return toSDKLeads(a.lookup().LeadsByCanonicalEmail(ctx, projectID, canonical))
}

func (a *hostAPI) FindLeadsByPhone(ctx context.Context, projectID, phone string) ([]sdk.Lead, error) {
	if err := a.allow(projectID); err != nil {
		return nil, err
	}
	return toSDKLeads(a.lookup().LeadsByPhone(ctx, projectID, phone))
}

func (a *hostAPI) FindLeadByUserID(ctx context.Context, projectID, userID string) (sdk.Lead, error) {
	if err := a.allow(projectID); err != nil {
		return sdk.Lead{}, err
	}
	l, err := a.lookup().LeadByUserID(ctx, projectID, userID)
	if err != nil {
		return sdk.Lead{}, notFound(err)
	}
	return toSDKLead(l), nil
}
