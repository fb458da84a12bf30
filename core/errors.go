// Package core holds Leadhub's domain: projects, keys, leads, requests and their
// events, the rules that connect them, and the service interfaces that adapters
// implement. It imports only the standard library.
package core

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP adapter maps each to one status; anything else is shown
// to users as "internal error".
const (
	EINVALID      = "invalid"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	ETOOLARGE     = "too_large"
	ERATELIMITED  = "rate_limited"
	EINTERNAL     = "internal"
)

// Error is a domain error: a code, a message a person can read, and for invalid
// input the offending fields.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports bad input on named fields.
func Invalid(fields map[string]string) *Error {
	msg := "invalid input"
	if len(fields) == 1 {
		for f, m := range fields {
			msg = f + ": " + m
		}
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of an *Error, or "internal error".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// NotFound is the error for a resource that does not exist in the caller's
// project. A resource of another project is reported the same way, never as
// forbidden, so ids cannot be probed across tenants.
func NotFound(what string) *Error { return Errorf(ENOTFOUND, "%s not found", what) }
