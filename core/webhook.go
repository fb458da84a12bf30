package core

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"
)

// EventWebhookTest is the type of the event sent by a webhook's test call.
const EventWebhookTest = "webhook.test"

// EventWebhookDisabled is written when an endpoint is disabled for failing.
const EventWebhookDisabled = "webhook.disabled"

// Webhook is an outbound endpoint of a project, subscribed to event types.
type Webhook struct {
	ID             string     `json:"id"`
	ProjectID      string     `json:"-"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Description    string     `json:"description"`
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	Secret         string     `json:"secret,omitempty"` // shown on create and rotate only
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	LastSuccessAt  *time.Time `json:"last_success_at"`
}

// WebhookInput creates a webhook.
type WebhookInput struct {
	URL         string
	Events      []string
	Description string
}

// WebhookPatch changes a webhook; nil fields stay.
type WebhookPatch struct {
	URL         *string
	Events      *[]string
	Description *string
	Enabled     *bool
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// Delivery is one attempt to deliver an event to a webhook.
type Delivery struct {
	ID             string     `json:"id"`
	WebhookID      string     `json:"-"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Attempt        int        `json:"attempt"`
	Status         string     `json:"status"`
	ResponseStatus int        `json:"response_status"`
	ResponseBody   string     `json:"response_body,omitempty"`
	DurationMS     int64      `json:"duration_ms"`
	Error          string     `json:"error"`
	Trigger        string     `json:"trigger,omitempty"` // scheduled, manual, test
	CreatedAt      time.Time  `json:"created_at"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
}

// WebhookService manages outbound webhooks.
type WebhookService interface {
	// CreateWebhook EINVALID for a bad URL, an unknown event type or a target
	// in a private network.
	CreateWebhook(ctx context.Context, projectID string, in WebhookInput) (*Webhook, error)
	Webhooks(ctx context.Context, projectID string) ([]Webhook, error)
	Webhook(ctx context.Context, projectID, id string) (*Webhook, error)
	UpdateWebhook(ctx context.Context, projectID, id string, p WebhookPatch) (*Webhook, error)
	DeleteWebhook(ctx context.Context, projectID, id string) error
	// RotateWebhookSecret returns the webhook with its new secret; the old one
	// keeps signing beside it for 24 hours.
	RotateWebhookSecret(ctx context.Context, projectID, id string) (*Webhook, error)
	// TestWebhook enqueues a webhook.test event for this endpoint.
	TestWebhook(ctx context.Context, projectID, id string) (*Delivery, error)
	Deliveries(ctx context.Context, projectID, webhookID string, limit int, cursor string) (Page[Delivery], error)
	// RetryDelivery sends that delivery's event again now.
	RetryDelivery(ctx context.Context, projectID, webhookID, deliveryID string) (*Delivery, error)
}

// Job kinds of webhook deliveries. Jobs carry the event id and the webhook id
// (Target) only: the worker loads the event and the endpoint's secrets.
const (
	// JobWebhookDeliver is a delivery fanned out from an event, retried on
	// the configured schedule.
	JobWebhookDeliver = "webhook.deliver"
	// JobWebhookResend is a test or a manual retry: one attempt, no retries.
	JobWebhookResend = "webhook.resend"
)

// Delivery triggers: what caused an attempt.
const (
	TriggerScheduled = "scheduled"
	TriggerManual    = "manual"
	TriggerTest      = "test"
)

// WebhookEventTypes lists the event types an endpoint may subscribe to,
// besides "*" (which means all of them). webhook.test is not among them: it
// goes only to the endpoint being tested.
func WebhookEventTypes() []string {
	return append(append([]string{}, EventTypes...), EventWebhookDisabled)
}

// NewWebhookSecret returns a Standard Webhooks secret: "whsec_" and the
// base64 of 32 random bytes.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// WebhookTarget is what the delivery worker needs of an endpoint, secrets
// included. It is never shown by the API.
type WebhookTarget struct {
	ID        string
	ProjectID string
	URL       string
	Enabled   bool
	// Secrets sign every delivery: the current secret first, then, during the
	// 24 hours after a rotation, the previous one.
	Secrets []string
}

// DeliveryResult is one attempt as the worker reports it, to be logged.
type DeliveryResult struct {
	Delivery
	// Disable, when set, disables the endpoint with this reason (it answered
	// 410 Gone).
	Disable string
}
