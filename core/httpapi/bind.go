package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/leadhub/leadhub/core"
)

// readBody reads the whole body within the size limit.
func readBody(c *gin.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, core.Errorf(core.ETOOLARGE, "body larger than %d bytes", tooLarge.Limit)
	}
	if err != nil {
		return nil, core.Errorf(core.EINVALID, "could not read body: %v", err)
	}
	return b, nil
}

// bindJSON decodes the body strictly into dst: unknown fields, wrong types and
// trailing data are refused, not silently dropped.
func bindJSON(c *gin.Context, dst any) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeStrict(b, dst)
}

func decodeStrict(b []byte, dst any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return core.Errorf(core.EINVALID, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return core.Errorf(core.EINVALID, "trailing data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return core.Errorf(core.EINVALID, "trailing data after the JSON object")
	}
	return nil
}

// jsonError turns a decoding error into a field-level message.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return core.Errorf(core.EINVALID, "request body must be a JSON object")
		}
		return core.Invalid(map[string]string{field: "must be " + jsonKind(typeErr.Type.Kind().String())})
	case errors.As(err, &syntaxErr):
		return core.Errorf(core.EINVALID, "malformed JSON at byte %d", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return core.Invalid(map[string]string{name: "unknown field"})
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return core.Errorf(core.EINVALID, "truncated JSON")
	}
	return core.Errorf(core.EINVALID, "invalid JSON: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int64", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return "a " + k
}

// jsonObject normalises decoded JSON (json.Number) into plain values for
// attributes (core.PlainJSON).
func jsonObject(m map[string]any) map[string]any { return core.PlainJSONObject(m) }

// queryInt parses an optional integer query parameter.
func queryInt(c *gin.Context, name string, def, lo, hi int) (int, error) {
	s := c.Query(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, core.Invalid(map[string]string{name: fmt.Sprintf("must be an integer from %d to %d", lo, hi)})
	}
	return n, nil
}

type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func listOf[T any](p core.Page[T]) list[T] {
	l := list[T]{Items: p.Items}
	if l.Items == nil {
		l.Items = []T{}
	}
	if p.NextCursor != "" {
		l.NextCursor = &p.NextCursor
	}
	return l
}
