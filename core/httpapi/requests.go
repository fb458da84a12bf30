package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

type createRequestBody struct {
	ID         *string         `json:"id"`
	UserID     string          `json:"user_id"`
	Channel    string          `json:"channel"`
	FirstText  string          `json:"first_text"`
	Attributes map[string]any  `json:"attributes"`
	Lead       *leadFieldsBody `json:"lead"`
}

type ingestJSON struct {
	Request core.Request `json:"request"`
	Lead    core.Lead    `json:"lead"`
}

func (a *API) createRequest(c *gin.Context) {
	var body createRequestBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	in := core.Ingest{UserID: body.UserID, Channel: body.Channel, FirstText: body.FirstText,
		Attributes: jsonObject(body.Attributes), Actor: principal(c).Actor()}
	if body.ID != nil {
		if *body.ID == "" {
			writeError(c, core.Invalid(map[string]string{"id": "must not be empty; leave it out to have one generated"}))
			return
		}
		in.ID = *body.ID
	}
	if body.Lead != nil {
		in.Lead = body.Lead.fields()
		in.LeadAttributes = jsonObject(body.Lead.Attributes)
	}
	res, err := a.cfg.Services.IngestRequest(c.Request.Context(), c.Param("project"), in)
	if err != nil {
		writeError(c, err)
		return
	}
	status := http.StatusCreated
	if !res.Created {
		status = http.StatusOK
	}
	c.JSON(status, ingestJSON{Request: res.Request, Lead: res.Lead})
}

func (a *API) getRequest(c *gin.Context) {
	r, err := a.cfg.Services.Request(c.Request.Context(), c.Param("project"), c.Param("id"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

type patchRequestBody struct {
	Status     *string        `json:"status"`
	Attributes map[string]any `json:"attributes"`
}

func (a *API) patchRequest(c *gin.Context) {
	var body patchRequestBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	r, err := a.cfg.Services.UpdateRequest(c.Request.Context(), c.Param("project"), c.Param("id"),
		core.RequestPatch{Status: body.Status, Attributes: jsonObject(body.Attributes)}, principal(c).Actor())
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

type messageBody struct {
	Sender string `json:"sender"`
	Text   string `json:"text"`
}

func (a *API) addMessage(c *gin.Context) {
	var body messageBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	r, err := a.cfg.Services.AddMessage(c.Request.Context(), c.Param("project"), c.Param("id"),
		core.Message{Sender: body.Sender, Text: body.Text, Actor: principal(c).Actor()})
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, r)
}

// openAPIPath writes Gin's ":param" segments as OpenAPI's "{param}".
func openAPIPath(p string) string {
	b := []byte{}
	for i := 0; i < len(p); i++ {
		if p[i] == ':' {
			j := i + 1
			for j < len(p) && p[j] != '/' {
				j++
			}
			b = append(b, '{')
			b = append(b, p[i+1:j]...)
			b = append(b, '}')
			i = j - 1
			continue
		}
		b = append(b, p[i])
	}
	return string(b)
}
