package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

func (a *API) listDuplicates(c *gin.Context) {
	limit, err := queryInt(c, "limit", core.DefaultLimit, 1, core.MaxLimit)
	if err != nil {
		writeError(c, err)
		return
	}
	page, err := a.cfg.Duplicates.Duplicates(c.Request.Context(), c.Param("project"), c.Query("status"), limit, c.Query("cursor"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, listOf(page))
}

func (a *API) dismissDuplicate(c *gin.Context) {
	d, err := a.cfg.Duplicates.DismissDuplicate(c.Request.Context(), c.Param("project"), c.Param("id"), principal(c).Actor())
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

type mergeBody struct {
	From []string `json:"from"`
}

func (a *API) mergeLeads(c *gin.Context) {
	var body mergeBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	res, err := a.cfg.Merges.MergeLeads(c.Request.Context(), c.Param("project"), c.Param("id"), body.From, principal(c).Actor())
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (a *API) undoMerge(c *gin.Context) {
	res, err := a.cfg.Merges.UndoMerge(c.Request.Context(), c.Param("project"), c.Param("id"), principal(c).Actor())
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

type identifyBody struct {
	UserID      string          `json:"user_id"`
	UserHash    string          `json:"user_hash"`
	AnonymousID string          `json:"anonymous_id"`
	Lead        *leadFieldsBody `json:"lead"`
}

func (a *API) identify(c *gin.Context) {
	var body identifyBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	in := core.Identify{UserID: body.UserID, UserHash: body.UserHash, AnonymousID: body.AnonymousID, Actor: principal(c).Actor()}
	if body.Lead != nil {
		in.Lead = body.Lead.fields()
		in.LeadAttributes = jsonObject(body.Lead.Attributes)
	}
	l, err := a.cfg.Merges.Identify(c.Request.Context(), c.Param("project"), in)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"lead": l})
}
