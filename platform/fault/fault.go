package fault

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Kind classifies an error by what the caller can do about it.
type Kind uint8

// The kinds, in the order of the table in kindInfo.
const (
	Internal         Kind = iota // a bug or an unexpected failure: 500
	Invalid                      // the request is malformed or fails validation: 400
	Unauthorized                 // no or bad credentials: 401
	PaymentRequired              // the payment was declined: 402
	Forbidden                    // authenticated but not allowed: 403
	NotFound                     // no such resource, or not yours: 404
	MethodNotAllowed             // the path exists, the method does not: 405
	Conflict                     // the state forbids it (out of stock, taken): 409
	TooLarge                     // the body is over the limit: 413
	Unprocessable                // well-formed but not acceptable (key reuse): 422
	TooMany                      // rate limited: 429
	HeadersTooLarge              // the request headers are over the limit: 431
	Unavailable                  // a dependency is down or overloaded: 503
	Timeout                      // the deadline passed: 504
)

type kindInfo struct {
	status int
	code   string
	title  string
}

var kinds = [...]kindInfo{
	Internal:         {http.StatusInternalServerError, "internal", "Internal error"},
	Invalid:          {http.StatusBadRequest, "invalid", "Invalid request"},
	Unauthorized:     {http.StatusUnauthorized, "unauthorized", "Unauthorized"},
	PaymentRequired:  {http.StatusPaymentRequired, "payment_declined", "Payment declined"},
	Forbidden:        {http.StatusForbidden, "forbidden", "Forbidden"},
	NotFound:         {http.StatusNotFound, "not_found", "Not found"},
	MethodNotAllowed: {http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed"},
	Conflict:         {http.StatusConflict, "conflict", "Conflict"},
	TooLarge:         {http.StatusRequestEntityTooLarge, "too_large", "Request too large"},
	Unprocessable:    {http.StatusUnprocessableEntity, "unprocessable", "Unprocessable request"},
	TooMany:          {http.StatusTooManyRequests, "rate_limited", "Too many requests"},
	HeadersTooLarge:  {http.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "Request headers too large"},
	Unavailable:      {http.StatusServiceUnavailable, "unavailable", "Service unavailable"},
	Timeout:          {http.StatusGatewayTimeout, "timeout", "Timeout"},
}

// Status returns the HTTP status code for k.
func (k Kind) Status() int { return k.info().status }

// String returns the default code of k, such as "not_found".
func (k Kind) String() string { return k.info().code }

func (k Kind) info() kindInfo {
	if int(k) < len(kinds) {
		return kinds[k]
	}
	return kinds[Internal]
}

// KindForStatus maps an HTTP status back to a kind; unknown 4xx become
// Invalid and unknown 5xx Unavailable, since a caller cannot tell a crashed
// upstream from an overloaded one.
func KindForStatus(status int) Kind {
	for k, info := range kinds {
		if info.status == status {
			return Kind(k)
		}
	}
	switch {
	case status >= 500:
		return Unavailable
	case status >= 400:
		return Invalid
	}
	return Internal
}

// FieldError names one invalid field of a request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error with a kind, a stable code and a user-safe message.
type Error struct {
	Kind       Kind
	Code       string        // stable, machine-readable: "out_of_stock"
	Message    string        // safe to show to the user
	Fields     []FieldError  // per-field validation messages
	RetryAfter time.Duration // for TooMany and Unavailable
	Err        error         // the cause; logged, never shown
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind.info().title
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.code(), msg, e.Err)
	}
	return e.code() + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) code() string {
	if e.Code != "" {
		return e.Code
	}
	return e.Kind.String()
}

// New returns an error of the given kind and code with a user-safe message.
// An empty code takes the kind's default.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Wrap returns an error of the given kind that keeps err as its cause.
func Wrap(err error, kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message, Err: err}
}

// Invalidf is an Invalid error with code "invalid".
func Invalidf(format string, args ...any) *Error {
	return New(Invalid, "", fmt.Sprintf(format, args...))
}

// NotFoundf is a NotFound error with code "not_found".
func NotFoundf(format string, args ...any) *Error {
	return New(NotFound, "", fmt.Sprintf(format, args...))
}

// Unavailablef is an Unavailable error with code "unavailable".
func Unavailablef(format string, args ...any) *Error {
	return New(Unavailable, "", fmt.Sprintf(format, args...))
}

// Fields returns an Invalid error listing each invalid field.
func Fields(fields ...FieldError) *Error {
	msg := "the request has invalid fields"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Kind: Invalid, Message: msg, Fields: fields}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of err: Internal unless err wraps an *Error.
// A context deadline counts as Timeout and a cancelled context as
// Unavailable.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	if errors.Is(err, contextDeadline) {
		return Timeout
	}
	return Internal
}

// CodeOf returns the stable code of err ("internal" for unknown errors).
func CodeOf(err error) string {
	if e, ok := As(err); ok {
		return e.code()
	}
	return KindOf(err).String()
}

// Is reports whether err has the given kind.
func Is(err error, kind Kind) bool { return err != nil && KindOf(err) == kind }

// HasCode reports whether err carries the given code.
func HasCode(err error, code string) bool { return err != nil && CodeOf(err) == code }

// FormatRetryAfter renders d as a Retry-After header value in whole seconds,
// at least 1.
func FormatRetryAfter(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}
