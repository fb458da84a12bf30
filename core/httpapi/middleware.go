package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

const principalKey = "leadhub.principal"

// observe logs one line per request and feeds the metrics, labelled by route
// template (never the URL, which holds ids).
func (a *API) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	d := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	if a.cfg.Observer != nil {
		a.cfg.Observer.ObserveHTTP(c.Request.Method, route, status, d)
	}
	attrs := []any{"method", c.Request.Method, "route", route, "status", status, "duration_ms", float64(d.Microseconds()) / 1000}
	if p := c.Param("project"); p != "" {
		attrs = append(attrs, "project", p)
	}
	if len(c.Errors) > 0 {
		attrs = append(attrs, "error", c.Errors.String())
		a.cfg.Logger.Error("http request", attrs...)
		return
	}
	if route == "/healthz" || route == "/metrics" || route == "/readyz" {
		return // probes would drown the log
	}
	a.cfg.Logger.Info("http request", attrs...)
}

func (a *API) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			writeError(c, fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

func (a *API) limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, a.cfg.MaxBody)
	}
	c.Next()
}

// authenticate resolves the bearer key. Every /v1 route needs one.
func (a *API) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(secret) == "" {
		writeError(c, core.Errorf(core.EUNAUTHORIZED, "missing bearer API key"))
		return
	}
	p, err := a.cfg.Services.Authenticate(c.Request.Context(), secret)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

func principal(c *gin.Context) core.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(core.Principal)
	return pr
}

// role guards a project route. A key of another project sees not_found, so a
// project's existence is not disclosed; a key of this project with too small
// a role sees forbidden.
func (a *API) role(need core.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		project := c.Param("project")
		if !p.Admin && p.ProjectID != project {
			writeError(c, core.NotFound("project"))
			return
		}
		if !p.CanAct(project, need) {
			writeError(c, core.Errorf(core.EFORBIDDEN, "this key's role may not do that (needs %s)", need))
			return
		}
		c.Next()
	}
}

func (a *API) serverAdmin(c *gin.Context) {
	if !principal(c).Admin {
		writeError(c, core.Errorf(core.EFORBIDDEN, "needs the server admin key"))
		return
	}
	c.Next()
}
