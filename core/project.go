package core

import (
	"context"
	"time"
)

// Project is a tenant: every lead, request, key, webhook and channel belongs to
// exactly one project.
type Project struct {
	ID        string
	Name      string
	Settings  ProjectSettings
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Auto-merge modes of a project.
const (
	AutoMergeOff      = "off"
	AutoMergeVerified = "verified"
)

// ProjectSettings are the per-project switches an admin may change.
type ProjectSettings struct {
	// AutoMerge is "off" (duplicates are only suggested) or "verified" (an
	// identity proven by the identity secret merges automatically).
	AutoMerge string `json:"auto_merge"`
}

// Validate checks the settings.
func (s ProjectSettings) Validate() error {
	switch s.AutoMerge {
	case AutoMergeOff, AutoMergeVerified:
		return nil
	}
	return Invalid(map[string]string{"settings.auto_merge": "must be off or verified"})
}

// ProjectUpdate is a partial change to a project; nil fields stay as they are.
type ProjectUpdate struct {
	Name      *string
	AutoMerge *string
}

// ProjectService manages projects.
type ProjectService interface {
	// CreateProject creates a project and its first admin key, returned in clear
	// once. EINVALID for an empty name.
	CreateProject(ctx context.Context, name string) (*Project, *NewKey, error)
	// Project returns a project. ENOTFOUND.
	Project(ctx context.Context, id string) (*Project, error)
	// UpdateProject changes name or settings. ENOTFOUND, EINVALID.
	UpdateProject(ctx context.Context, id string, upd ProjectUpdate) (*Project, error)
}
