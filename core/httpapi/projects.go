package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

type projectJSON struct {
	ID        string               `json:"id"`
	Name      string               `json:"name"`
	Settings  core.ProjectSettings `json:"settings"`
	CreatedAt time.Time            `json:"created_at"`
	UpdatedAt time.Time            `json:"updated_at"`
	APIKey    string               `json:"api_key,omitempty"`
}

func toProjectJSON(p *core.Project) projectJSON {
	return projectJSON{ID: p.ID, Name: p.Name, Settings: p.Settings, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

type createProjectBody struct {
	Name string `json:"name"`
}

func (a *API) createProject(c *gin.Context) {
	var body createProjectBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	p, key, err := a.cfg.Services.CreateProject(c.Request.Context(), body.Name)
	if err != nil {
		writeError(c, err)
		return
	}
	out := toProjectJSON(p)
	out.APIKey = key.Secret
	c.JSON(http.StatusCreated, out)
}

func (a *API) getProject(c *gin.Context) {
	p, err := a.cfg.Services.Project(c.Request.Context(), c.Param("project"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toProjectJSON(p))
}

type patchProjectBody struct {
	Name     *string `json:"name"`
	Settings *struct {
		AutoMerge *string `json:"auto_merge"`
	} `json:"settings"`
}

func (a *API) patchProject(c *gin.Context) {
	var body patchProjectBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	upd := core.ProjectUpdate{Name: body.Name}
	if body.Settings != nil {
		upd.AutoMerge = body.Settings.AutoMerge
	}
	p, err := a.cfg.Services.UpdateProject(c.Request.Context(), c.Param("project"), upd)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toProjectJSON(p))
}

type keyJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      core.Role `json:"role"`
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
	Key       string    `json:"key,omitempty"`
}

func toKeyJSON(k core.Key) keyJSON {
	return keyJSON{ID: k.ID, Name: k.Name, Role: k.Role, Prefix: k.Prefix, CreatedAt: k.CreatedAt}
}

type createKeyBody struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

func (a *API) createKey(c *gin.Context) {
	var body createKeyBody
	if err := bindJSON(c, &body); err != nil {
		writeError(c, err)
		return
	}
	k, err := a.cfg.Services.CreateKey(c.Request.Context(), c.Param("project"), body.Name, core.Role(body.Role))
	if err != nil {
		writeError(c, err)
		return
	}
	out := toKeyJSON(k.Key)
	out.Key = k.Secret
	c.JSON(http.StatusCreated, out)
}

func (a *API) listKeys(c *gin.Context) {
	keys, err := a.cfg.Services.Keys(c.Request.Context(), c.Param("project"))
	if err != nil {
		writeError(c, err)
		return
	}
	items := make([]keyJSON, len(keys))
	for i, k := range keys {
		items[i] = toKeyJSON(k)
	}
	c.JSON(http.StatusOK, list[keyJSON]{Items: items})
}

func (a *API) revokeKey(c *gin.Context) {
	if err := a.cfg.Services.RevokeKey(c.Request.Context(), c.Param("project"), c.Param("id")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *API) getIdentitySecret(c *gin.Context) {
	s, err := a.cfg.Services.IdentitySecret(c.Request.Context(), c.Param("project"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": s})
}

func (a *API) rotateIdentitySecret(c *gin.Context) {
	s, err := a.cfg.Services.RotateIdentitySecret(c.Request.Context(), c.Param("project"))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": s})
}
