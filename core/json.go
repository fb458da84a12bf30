package core

import (
	"encoding/json"
	"strconv"
)

// PlainJSONObject turns the json.Numbers of an object decoded with UseNumber
// into plain values, in place: integers stay integers (int64) where they
// fit, other numbers become float64. Attributes are stored and compared as
// such plain values, whichever way they came in.
func PlainJSONObject(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = PlainJSON(v)
	}
	return m
}

// PlainJSON is PlainJSONObject for any decoded JSON value.
func PlainJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		return PlainJSONObject(x)
	case []any:
		for i := range x {
			x[i] = PlainJSON(x[i])
		}
		return x
	}
	return v
}
