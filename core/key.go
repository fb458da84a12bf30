package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// Role is what a project key may do. Roles nest: admin ⊃ agent ⊃ ingest.
type Role string

// The roles, from the most to the least powerful.
const (
	RoleAdmin  Role = "admin"
	RoleAgent  Role = "agent"
	RoleIngest Role = "ingest"
)

func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleAgent:
		return 2
	case RoleIngest:
		return 1
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a key of role r may act as role need.
func (r Role) Allows(need Role) bool { return r.rank() >= need.rank() && need.rank() > 0 }

// Key is a project API key as stored: only a hash of the secret is kept.
type Key struct {
	ID        string
	ProjectID string
	Name      string
	Role      Role
	Prefix    string // the first characters of the secret, to recognise it in lists
	CreatedAt time.Time
	LastUsed  *time.Time
}

// NewKey is a key just created: the only time its secret is known.
type NewKey struct {
	Key
	Secret string
}

// Principal is who makes a call: the server admin or a project key.
type Principal struct {
	Admin     bool   // the server's admin key: admin of every project
	KeyID     string // empty for the server admin
	ProjectID string // empty for the server admin
	Role      Role
}

// Actor names the principal in events.
func (p Principal) Actor() string {
	if p.Admin {
		return "admin"
	}
	return "key:" + p.KeyID
}

// CanAct reports whether p may act with role need in project projectID.
func (p Principal) CanAct(projectID string, need Role) bool {
	if p.Admin {
		return true
	}
	return p.ProjectID == projectID && p.Role.Allows(need)
}

// KeyService manages keys and authenticates callers.
type KeyService interface {
	// CreateKey creates a key in a project. EINVALID for an unknown role.
	CreateKey(ctx context.Context, projectID, name string, role Role) (*NewKey, error)
	// Keys lists a project's live keys, without secrets.
	Keys(ctx context.Context, projectID string) ([]Key, error)
	// RevokeKey revokes a key at once. ENOTFOUND.
	RevokeKey(ctx context.Context, projectID, keyID string) error
	// Authenticate resolves a bearer secret to a principal. EUNAUTHORIZED.
	Authenticate(ctx context.Context, secret string) (Principal, error)
}

// GenerateSecret returns a new random secret with a readable prefix. Keys carry
// 32 random bytes, so a fast hash is enough to store them safely.
func GenerateSecret(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret is the stored form of a key secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	return hex.EncodeToString(sum[:])
}
