package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

type leadFieldsBody struct {
	Fullname   *string        `json:"fullname"`
	Lastname   *string        `json:"lastname"`
	Email      *string        `json:"email"`
	Phone      *string        `json:"phone"`
	Company    *string        `json:"company"`
	Attributes map[string]any `json:"attributes"`
}

func (b leadFieldsBody) fields() core.LeadFields {
	return core.LeadFields{Fullname: b.Fullname, Lastname: b.Lastname, Email: b.Email, Phone: b.Phone, Company: b.Company}
}

type createLeadBody struct {
	UserID *string `json:"user_id"`
	leadFieldsBody
	Tags []string `json:"tags"`
}

func (a *API) createLead(c *gin.Context) {
	var body createLeadBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	in := core.NewLead{Fields: body.fields(), Attributes: jsonObject(body.Attributes), Tags: body.Tags}
	if body.UserID != nil {
		if *body.UserID == "" {
			writeError(c, core.Invalid(map[string]string{"user_id": "must not be empty; leave it out to have one generated"}))
			return
		}
		in.UserID = *body.UserID
	}
	l, err := a.cfg.Services.CreateLead(c.Request.Context(), c.Param("project"), in, principal(c).Actor())
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, l)
}

func (a *API) listLeads(c *gin.Context) {
	limit, err := queryInt(c, "limit", core.DefaultLimit, 1, core.MaxLimit)
	if err != nil {
		writeError(c, err)
		return
	}
	for k := range c.Request.URL.Query() {
		switch k {
		case "email", "q", "user_id", "tag", "status", "sort", "limit", "cursor":
		default:
			writeError(c, core.Invalid(map[string]string{k: "unknown query parameter"}))
			return
		}
	}
	f := core.LeadFilter{Email: c.Query("email"), Q: c.Query("q"), UserID: c.Query("user_id"), Tag: c.Query("tag"),
		Status: c.Query("status"), Sort: c.Query("sort"), Limit: limit, Cursor: c.Query("cursor")}
	page, err := a.cfg.Services.Leads(c.Request.Context(), c.Param("project"), f)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, listOf(page))
}

func (a *API) getLead(c *gin.Context) {
	l, err := a.cfg.Services.Lead(c.Request.Context(), c.Param("project"), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, l)
}

// patchLead reads an RFC 7396 merge patch. It is decoded member by member so
// that null can mean "clear" (a field) or "remove" (an attribute key).
func (a *API) patchLead(c *gin.Context) {
	b, err := readBody(c)
	if err != nil {
		writeError(c, err)
		return
	}
	p, err := parseLeadPatch(b)
	if err != nil {
		writeError(c, err)
		return
	}
	l, err := a.cfg.Services.UpdateLead(c.Request.Context(), c.Param("project"), c.Param("id"), p, principal(c).Actor())
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, l)
}

func parseLeadPatch(b []byte) (core.LeadPatch, error) {
	var p core.LeadPatch
	var members map[string]json.RawMessage
	if err := decodeStrict(b, &members); err != nil {
		return p, err
	}
	if members == nil {
		return p, core.Errorf(core.EINVALID, "request body must be a JSON object")
	}
	isNull := func(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
	str := func(name string, raw json.RawMessage) (*string, error) {
		v := ""
		if isNull(raw) {
			return &v, nil
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, core.Invalid(map[string]string{name: "must be a string or null"})
		}
		return &v, nil
	}
	var err error
	for name, raw := range members {
		switch name {
		case "fullname":
			p.Fields.Fullname, err = str(name, raw)
		case "lastname":
			p.Fields.Lastname, err = str(name, raw)
		case "email":
			p.Fields.Email, err = str(name, raw)
		case "phone":
			p.Fields.Phone, err = str(name, raw)
		case "company":
			p.Fields.Company, err = str(name, raw)
		case "status":
			var s string
			if json.Unmarshal(raw, &s) != nil {
				err = core.Invalid(map[string]string{name: "must be a string"})
			}
			p.Status = &s
		case "tags":
			tags := []string{}
			if !isNull(raw) && json.Unmarshal(raw, &tags) != nil {
				err = core.Invalid(map[string]string{name: "must be an array of strings or null"})
			}
			p.Tags = &tags
		case "attributes":
			var attrs map[string]any
			if isNull(raw) {
				// Removing the whole member clears every attribute: a patch
				// that names each current key with null.
				p.Attributes = map[string]any{}
				p.ClearAttributes = true
				continue
			}
			if err = decodeStrict(raw, &attrs); err != nil || attrs == nil {
				err = core.Invalid(map[string]string{name: "must be an object or null"})
			}
			p.Attributes = jsonObject(attrs)
		default:
			err = core.Invalid(map[string]string{name: "unknown or read-only field"})
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func (a *API) deleteLead(c *gin.Context) {
	if err := a.cfg.Services.DeleteLead(c.Request.Context(), c.Param("project"), c.Param("id"), principal(c).Actor()); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *API) leadRequests(c *gin.Context) {
	limit, err := queryInt(c, "limit", core.DefaultLimit, 1, core.MaxLimit)
	if err != nil {
		writeError(c, err)
		return
	}
	page, err := a.cfg.Services.LeadRequests(c.Request.Context(), c.Param("project"), c.Param("id"), limit, c.Query("cursor"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, listOf(page))
}

func (a *API) leadEvents(c *gin.Context) {
	limit, err := queryInt(c, "limit", core.DefaultLimit, 1, core.MaxLimit)
	if err != nil {
		writeError(c, err)
		return
	}
	page, err := a.cfg.Services.LeadEvents(c.Request.Context(), c.Param("project"), c.Param("id"), limit, c.Query("cursor"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, listOf(page))
}
