package sdktest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/leadhub/leadhub/sdk"
)

// Host is an in-memory sdk.HostAPI holding leads of any number of projects.
// Like the real host it never answers across projects. It is safe for
// concurrent use.
type Host struct {
	mu    sync.Mutex
	leads []sdk.Lead
	calls []Call
	err   error
}

// Call records one HostAPI call: the method name, the project id and the
// looked-up value (lead id, email, phone or user id).
type Call struct {
	Method    string
	ProjectID string
	Arg       string
}

// NewHost returns a Host holding leads.
func NewHost(leads ...sdk.Lead) *Host {
	h := &Host{}
	h.Add(leads...)
	return h
}

// Add stores leads; a lead with the id and project of a stored one replaces it.
func (h *Host) Add(leads ...sdk.Lead) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range leads {
		i := slices.IndexFunc(h.leads, func(x sdk.Lead) bool { return x.ID == l.ID && x.ProjectID == l.ProjectID })
		if i >= 0 {
			h.leads[i] = l
		} else {
			h.leads = append(h.leads, l)
		}
	}
}

// Calls returns the calls made so far, oldest first.
func (h *Host) Calls() []Call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// FailWith makes every later call return err (nil restores normal answers).
func (h *Host) FailWith(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
}

// find records a call and returns the leads of the project matching.
func (h *Host) find(method, projectID, arg string, match func(sdk.Lead) bool) ([]sdk.Lead, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, Call{Method: method, ProjectID: projectID, Arg: arg})
	if h.err != nil {
		return nil, h.err
	}
	out := []sdk.Lead{}
	for _, l := range h.leads {
		if l.ProjectID == projectID && match(l) {
			out = append(out, l)
		}
	}
	return out, nil
}

func (h *Host) one(method, projectID, arg string, match func(sdk.Lead) bool) (sdk.Lead, error) {
	ls, err := h.find(method, projectID, arg, match)
	if err != nil {
		return sdk.Lead{}, err
	}
	if len(ls) == 0 {
		return sdk.Lead{}, fmt.Errorf("%s %q in project %q: %w", method, arg, projectID, sdk.ErrNotFound)
	}
	return ls[0], nil
}

// GetLead returns the lead with this id, in any status.
func (h *Host) GetLead(_ context.Context, projectID, leadID string) (sdk.Lead, error) {
	return h.one("GetLead", projectID, leadID, func(l sdk.Lead) bool { return l.ID == leadID })
}

// FindLeadsByEmail returns the leads whose email equals email, ignoring case
// and surrounding space.
func (h *Host) FindLeadsByEmail(_ context.Context, projectID, email string) ([]sdk.Lead, error) {
	email = strings.TrimSpace(email)
	return h.find("FindLeadsByEmail", projectID, email, func(l sdk.Lead) bool {
		return email != "" && strings.EqualFold(strings.TrimSpace(l.Email), email)
	})
}

// FindLeadsByNormalizedEmail returns the leads whose sdk.CanonicalEmail is
// canonical.
func (h *Host) FindLeadsByNormalizedEmail(_ context.Context, projectID, canonical string) ([]sdk.Lead, error) {
	return h.find("FindLeadsByNormalizedEmail", projectID, canonical, func(l sdk.Lead) bool {
		return canonical != "" && l.Email != "" && sdk.CanonicalEmail(l.Email) == canonical
	})
}

// FindLeadsByPhone returns the leads whose phone has the same digits as phone.
// (The real host normalizes phones more carefully.)
func (h *Host) FindLeadsByPhone(_ context.Context, projectID, phone string) ([]sdk.Lead, error) {
	want := digits(phone)
	return h.find("FindLeadsByPhone", projectID, phone, func(l sdk.Lead) bool {
		return want != "" && digits(l.Phone) == want
	})
}

// FindLeadByUserID returns the lead holding userID.
func (h *Host) FindLeadByUserID(_ context.Context, projectID, userID string) (sdk.Lead, error) {
	return h.one("FindLeadByUserID", projectID, userID, func(l sdk.Lead) bool {
		return userID != "" && slices.Contains(l.UserIDs, userID)
	})
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

var _ sdk.HostAPI = (*Host)(nil)
