package core

import (
	"context"
	"time"
)

// Channel kinds.
const (
	ChannelTiledesk = "tiledesk"
	ChannelChatwoot = "chatwoot"
	ChannelGeneric  = "generic"
)

// Channel is an inbound integration of a project: a chat platform posting its
// webhooks to Leadhub, authenticated by the channel's own secret.
type Channel struct {
	ID        string `json:"id"`
	ProjectID string `json:"-"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Secret    string `json:"secret,omitempty"`
	// AllowUnsigned accepts unsigned deliveries (old Chatwoot versions).
	AllowUnsigned bool `json:"allow_unsigned"`
	// Warnings tell an admin what is weak about the channel's set-up (it
	// accepts unsigned deliveries).
	Warnings   []string  `json:"warnings,omitempty"`
	InboundURL string    `json:"inbound_url"`
	CreatedAt  time.Time `json:"created_at"`
}

// ChannelInput creates a channel.
type ChannelInput struct {
	Kind          string
	Name          string
	Secret        string // generated when empty
	AllowUnsigned bool
}

// ChannelService manages inbound channels.
type ChannelService interface {
	CreateChannel(ctx context.Context, projectID string, in ChannelInput) (*Channel, error)
	Channels(ctx context.Context, projectID string) ([]Channel, error)
	Channel(ctx context.Context, projectID, id string) (*Channel, error)
	DeleteChannel(ctx context.Context, projectID, id string) error
}

// InboundDelivery is one POST received on a channel: its headers and raw body,
// verified before it is parsed.
type InboundDelivery struct {
	ChannelID string
	Header    map[string][]string
	Body      []byte
}

// InboundService receives channel deliveries.
type InboundService interface {
	// Receive verifies and applies a delivery. duplicate is true for one seen
	// before. ENOTFOUND for an unknown channel, EUNAUTHORIZED for a bad
	// signature or a stale timestamp, EINVALID for a payload it cannot read.
	Receive(ctx context.Context, d InboundDelivery) (duplicate bool, err error)
}
