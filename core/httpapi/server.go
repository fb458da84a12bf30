// Package httpapi is Leadhub's HTTP API on Gin. It is the only package that
// imports Gin. Handlers bind input into request structs of their own, never
// into domain types, so clients cannot set ids, counters or timestamps.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

// Services are what the API serves; the store implements all of them.
type Services interface {
	core.ProjectService
	core.KeyService
	core.LeadService
	core.RequestService
	IdentitySecret(ctx context.Context, projectID string) (string, error)
	RotateIdentitySecret(ctx context.Context, projectID string) (string, error)
}

// Observer receives one call per HTTP request, for metrics.
type Observer interface {
	ObserveHTTP(method, route string, status int, d time.Duration)
}

// Config wires the API.
type Config struct {
	Services Services
	// Ready reports whether the service can take traffic (database reachable,
	// migrations applied).
	Ready    func(ctx context.Context) error
	Metrics  http.Handler // the Prometheus handler at /metrics
	Observer Observer
	Logger   *slog.Logger
	// MaxBody caps request bodies; larger ones get 413.
	MaxBody int64
	// PublicURL is the server's external base URL, for the inbound URLs of
	// channels; when empty it is taken from each request's Host.
	PublicURL string

	// Optional services: their routes exist only when they are set.
	Duplicates core.DuplicateService
	Merges     core.MergeService
	Webhooks   core.WebhookService
	Channels   core.ChannelService
	Inbound    core.InboundService
	Plugins    core.PluginRegistry
}

// API is the HTTP handler.
type API struct {
	cfg    Config
	engine *gin.Engine
}

// New builds the router.
func New(cfg Config) *API {
	gin.SetMode(gin.ReleaseMode)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	a := &API{cfg: cfg, engine: gin.New()}
	e := a.engine
	e.ContextWithFallback = true
	e.HandleMethodNotAllowed = false
	e.Use(a.observe, a.recover, a.limitBody)
	e.NoRoute(func(c *gin.Context) { writeError(c, core.Errorf(core.ENOTFOUND, "no such route")) })

	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", a.ready)
	if cfg.Metrics != nil {
		e.GET("/metrics", gin.WrapH(cfg.Metrics))
	}

	v1 := e.Group("/v1", a.authenticate)
	v1.POST("/projects", a.serverAdmin, a.createProject)
	p := v1.Group("/projects/:project")
	p.GET("", a.role(core.RoleIngest), a.getProject)
	p.PATCH("", a.role(core.RoleAdmin), a.patchProject)
	p.POST("/keys", a.role(core.RoleAdmin), a.createKey)
	p.GET("/keys", a.role(core.RoleAdmin), a.listKeys)
	p.DELETE("/keys/:id", a.role(core.RoleAdmin), a.revokeKey)
	p.GET("/identity-secret", a.role(core.RoleAdmin), a.getIdentitySecret)
	p.POST("/identity-secret/rotate", a.role(core.RoleAdmin), a.rotateIdentitySecret)

	p.POST("/leads", a.role(core.RoleIngest), a.createLead)
	if b, ok := cfg.Services.(core.LeadBatchService); ok {
		p.POST("/leads/batch", a.role(core.RoleIngest), func(c *gin.Context) { a.createLeads(c, b) })
	}
	p.GET("/leads", a.role(core.RoleAgent), a.listLeads)
	p.GET("/leads/:id", a.role(core.RoleAgent), a.getLead)
	p.PATCH("/leads/:id", a.role(core.RoleAgent), a.patchLead)
	p.DELETE("/leads/:id", a.role(core.RoleAgent), a.deleteLead)
	p.GET("/leads/:id/requests", a.role(core.RoleAgent), a.leadRequests)
	p.GET("/leads/:id/events", a.role(core.RoleAgent), a.leadEvents)

	p.POST("/requests", a.role(core.RoleIngest), a.createRequest)
	p.GET("/requests/:id", a.role(core.RoleAgent), a.getRequest)
	p.PATCH("/requests/:id", a.role(core.RoleIngest), a.patchRequest)
	p.POST("/requests/:id/messages", a.role(core.RoleIngest), a.addMessage)

	if cfg.Duplicates != nil {
		p.GET("/duplicates", a.role(core.RoleAgent), a.listDuplicates)
		p.POST("/duplicates/:id/dismiss", a.role(core.RoleAgent), a.dismissDuplicate)
	}
	if cfg.Merges != nil {
		p.POST("/leads/:id/merge", a.role(core.RoleAgent), a.mergeLeads)
		p.POST("/merges/:id/undo", a.role(core.RoleAgent), a.undoMerge)
		p.POST("/identify", a.role(core.RoleIngest), a.identify)
	}
	if cfg.Webhooks != nil {
		p.POST("/webhooks", a.role(core.RoleAdmin), a.createWebhook)
		p.GET("/webhooks", a.role(core.RoleAdmin), a.listWebhooks)
		p.GET("/webhooks/:id", a.role(core.RoleAdmin), a.getWebhook)
		p.PATCH("/webhooks/:id", a.role(core.RoleAdmin), a.patchWebhook)
		p.DELETE("/webhooks/:id", a.role(core.RoleAdmin), a.deleteWebhook)
		p.POST("/webhooks/:id/rotate-secret", a.role(core.RoleAdmin), a.rotateWebhookSecret)
		p.POST("/webhooks/:id/test", a.role(core.RoleAdmin), a.testWebhook)
		p.GET("/webhooks/:id/deliveries", a.role(core.RoleAdmin), a.listDeliveries)
		p.POST("/webhooks/:id/deliveries/:delivery_id/retry", a.role(core.RoleAdmin), a.retryDelivery)
	}
	if cfg.Channels != nil {
		p.POST("/channels", a.role(core.RoleAdmin), a.createChannel)
		p.GET("/channels", a.role(core.RoleAdmin), a.listChannels)
		p.GET("/channels/:id", a.role(core.RoleAdmin), a.getChannel)
		p.DELETE("/channels/:id", a.role(core.RoleAdmin), a.deleteChannel)
	}
	if cfg.Inbound != nil {
		// Authenticated by the channel's signature, not by a bearer key.
		e.POST("/v1/inbound/:channel_id", a.inbound)
	}
	if cfg.Plugins != nil {
		v1.GET("/plugins", a.serverAdmin, a.listPlugins)
		v1.POST("/plugins/:name/enable", a.serverAdmin, a.enablePlugin)
	}

	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.engine.ServeHTTP(w, r) }

// Routes lists "METHOD /path" for every route, with Gin's ":param" written as
// "{param}" as in the OpenAPI file.
func (a *API) Routes() []string {
	var out []string
	for _, r := range a.engine.Routes() {
		out = append(out, r.Method+" "+openAPIPath(r.Path))
	}
	return out
}

func (a *API) ready(c *gin.Context) {
	if a.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := a.cfg.Ready(ctx); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "error": err.Error()})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
