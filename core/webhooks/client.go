package webhooks

import (
	"context"
	"net/http"
	"time"

	"github.com/leadhub/leadhub/core"
)

// MaxConnsPerHost bounds the connections to one endpoint, all of them kept
// idle between bursts: an endpoint sees at most this many requests at once,
// and a burst reuses connections instead of opening new ones.
const MaxConnsPerHost = 64

// NewClient is the HTTP client deliveries go through: every connection
// passes the guard, no proxy is used (it would hide the real target), and
// redirects are never followed (a 3xx is the answer, and a failure), so a
// redirect toward a private address goes nowhere.
func NewClient(g *Guard) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   MaxConnsPerHost,
		MaxConnsPerHost:       MaxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Service is the webhook service as the API uses it: the store's, with the
// guard's check on every URL an admin sets.
type Service struct {
	core.WebhookService
	guard *Guard
}

// NewService wraps a store's webhook service with the guard.
func NewService(store core.WebhookService, g *Guard) *Service {
	return &Service{WebhookService: store, guard: g}
}

// CreateWebhook refuses targets in private networks (EINVALID), then creates.
func (s *Service) CreateWebhook(ctx context.Context, projectID string, in core.WebhookInput) (*core.Webhook, error) {
	if err := s.guard.CheckURL(ctx, in.URL); err != nil {
		return nil, err
	}
	return s.WebhookService.CreateWebhook(ctx, projectID, in)
}

// UpdateWebhook checks a new URL as CreateWebhook does.
func (s *Service) UpdateWebhook(ctx context.Context, projectID, id string, p core.WebhookPatch) (*core.Webhook, error) {
	if p.URL != nil {
		if err := s.guard.CheckURL(ctx, *p.URL); err != nil {
			return nil, err
		}
	}
	return s.WebhookService.UpdateWebhook(ctx, projectID, id, p)
}
