package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

type createWebhookBody struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

func (a *API) createWebhook(c *gin.Context) {
	var body createWebhookBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	w, err := a.cfg.Webhooks.CreateWebhook(c.Request.Context(), c.Param("project"), core.WebhookInput{URL: body.URL, Events: body.Events, Description: body.Description})
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, w)
}

func (a *API) listWebhooks(c *gin.Context) {
	ws, err := a.cfg.Webhooks.Webhooks(c.Request.Context(), c.Param("project"))
	if err != nil {
		writeError(c, err)
		return
	}
	if ws == nil {
		ws = []core.Webhook{}
	}
	c.JSON(http.StatusOK, list[core.Webhook]{Items: ws})
}

func (a *API) getWebhook(c *gin.Context) {
	w, err := a.cfg.Webhooks.Webhook(c.Request.Context(), c.Param("project"), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, w)
}

type patchWebhookBody struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

func (a *API) patchWebhook(c *gin.Context) {
	var body patchWebhookBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	w, err := a.cfg.Webhooks.UpdateWebhook(c.Request.Context(), c.Param("project"), c.Param("id"),
		core.WebhookPatch{URL: body.URL, Events: body.Events, Description: body.Description, Enabled: body.Enabled})
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, w)
}

func (a *API) deleteWebhook(c *gin.Context) {
	if err := a.cfg.Webhooks.DeleteWebhook(c.Request.Context(), c.Param("project"), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *API) rotateWebhookSecret(c *gin.Context) {
	w, err := a.cfg.Webhooks.RotateWebhookSecret(c.Request.Context(), c.Param("project"), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, w)
}

func (a *API) testWebhook(c *gin.Context) {
	d, err := a.cfg.Webhooks.TestWebhook(c.Request.Context(), c.Param("project"), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, d)
}

func (a *API) listDeliveries(c *gin.Context) {
	limit, err := queryInt(c, "limit", core.DefaultLimit, 1, core.MaxLimit)
	if err != nil {
		writeError(c, err)
		return
	}
	page, err := a.cfg.Webhooks.Deliveries(c.Request.Context(), c.Param("project"), c.Param("id"), limit, c.Query("cursor"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, listOf(page))
}

func (a *API) retryDelivery(c *gin.Context) {
	d, err := a.cfg.Webhooks.RetryDelivery(c.Request.Context(), c.Param("project"), c.Param("id"), c.Param("delivery_id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, d)
}
