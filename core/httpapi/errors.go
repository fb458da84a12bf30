package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

// statusOf is the one map from error codes to HTTP statuses.
var statusOf = map[string]int{
	core.EINVALID:      http.StatusBadRequest,
	core.EUNAUTHORIZED: http.StatusUnauthorized,
	core.EFORBIDDEN:    http.StatusForbidden,
	core.ENOTFOUND:     http.StatusNotFound,
	core.ECONFLICT:     http.StatusConflict,
	core.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	core.ERATELIMITED:  http.StatusTooManyRequests,
	core.EINTERNAL:     http.StatusInternalServerError,
}

type errorBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// writeError answers with the API's error shape. Internal errors are logged
// and shown only as "internal error".
func writeError(c *gin.Context, err error) {
	code := core.ErrorCode(err)
	body := errorBody{Code: code, Message: core.ErrorMessage(err)}
	var e *core.Error
	if errors.As(err, &e) {
		body.Fields = e.Fields
	}
	if code == core.EINTERNAL {
		c.Error(err) // logged by the observe middleware
	}
	c.AbortWithStatusJSON(statusOf[code], gin.H{"error": body})
}
