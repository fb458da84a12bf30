package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

type createChannelBody struct {
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	Secret        string `json:"secret"`
	AllowUnsigned bool   `json:"allow_unsigned"`
}

// withInboundURL fills the channel's public inbound URL.
func (a *API) withInboundURL(c *gin.Context, ch *core.Channel) *core.Channel {
	base := strings.TrimRight(a.cfg.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		base = scheme + "://" + c.Request.Host
	}
	ch.InboundURL = base + "/v1/inbound/" + ch.ID
	return ch
}

func (a *API) createChannel(c *gin.Context) {
	var body createChannelBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	ch, err := a.cfg.Channels.CreateChannel(c.Request.Context(), c.Param("project"),
		core.ChannelInput{Kind: body.Kind, Name: body.Name, Secret: body.Secret, AllowUnsigned: body.AllowUnsigned})
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, a.withInboundURL(c, ch))
}

func (a *API) listChannels(c *gin.Context) {
	chs, err := a.cfg.Channels.Channels(c.Request.Context(), c.Param("project"))
	if err != nil {
		writeError(c, err)
		return
	}
	if chs == nil {
		chs = []core.Channel{}
	}
	for i := range chs {
		a.withInboundURL(c, &chs[i])
	}
	c.JSON(http.StatusOK, list[core.Channel]{Items: chs})
}

func (a *API) getChannel(c *gin.Context) {
	ch, err := a.cfg.Channels.Channel(c.Request.Context(), c.Param("project"), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, a.withInboundURL(c, ch))
}

func (a *API) deleteChannel(c *gin.Context) {
	if err := a.cfg.Channels.DeleteChannel(c.Request.Context(), c.Param("project"), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// inbound hands the raw body, unparsed, to the channel: the signature is
// checked over the exact bytes before anything reads them.
func (a *API) inbound(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		writeError(c, err)
		return
	}
	dup, err := a.cfg.Inbound.Receive(c.Request.Context(), core.InboundDelivery{ChannelID: c.Param("channel_id"), Header: c.Request.Header, Body: body})
	if err != nil {
		writeError(c, err)
		return
	}
	if dup {
		c.JSON(http.StatusOK, gin.H{"duplicate": true})
		return
	}
	c.JSON(http.StatusOK, gin.H{"accepted": true})
}

func (a *API) listPlugins(c *gin.Context) {
	items := a.cfg.Plugins.Plugins(c.Request.Context())
	if items == nil {
		items = []core.PluginInfo{}
	}
	c.JSON(http.StatusOK, list[core.PluginInfo]{Items: items})
}

func (a *API) enablePlugin(c *gin.Context) {
	if err := a.cfg.Plugins.EnablePlugin(c.Request.Context(), c.Param("name")); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"enabled": true})
}
