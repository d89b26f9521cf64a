package fault

import (
	"context"
	"encoding/json"
	"time"
)

var contextDeadline = context.DeadlineExceeded

// ProblemType is the base of the type URIs of Souk's problems.
const ProblemType = "https://souk.dev/problems/"

// ContentType is the media type of a Problem.
const ContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object with Souk's extensions.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Code      string       `json:"code"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
	// RetryAfter is seconds, mirrored in the Retry-After header.
	RetryAfter int `json:"retry_after,omitempty"`
}

// ToProblem renders err for a client. Errors of kind Internal never show
// their text: the detail is "internal error".
func ToProblem(err error) Problem {
	e, ok := As(err)
	if !ok {
		k := KindOf(err)
		info := k.info()
		detail := "internal error"
		if k == Timeout {
			detail = "the request took too long"
		}
		return Problem{Type: ProblemType + info.code, Title: info.title, Status: info.status, Code: info.code, Detail: detail}
	}
	info := e.Kind.info()
	p := Problem{
		Type:   ProblemType + e.code(),
		Title:  info.title,
		Status: info.status,
		Code:   e.code(),
		Detail: e.Message,
		Errors: e.Fields,
	}
	if e.Kind == Internal {
		p.Detail = "internal error"
	}
	if e.RetryAfter > 0 {
		p.RetryAfter = int((e.RetryAfter + time.Second - 1) / time.Second)
	}
	return p
}

// FromProblem turns a problem received from another service back into an
// error with the same kind, code and message.
func FromProblem(p Problem) *Error {
	kind := KindForStatus(p.Status)
	return &Error{
		Kind:       kind,
		Code:       p.Code,
		Message:    p.Detail,
		Fields:     p.Errors,
		RetryAfter: time.Duration(p.RetryAfter) * time.Second,
	}
}

// DecodeProblem parses a problem body; ok is false when body is not one.
func DecodeProblem(status int, body []byte) (*Error, bool) {
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Status == 0 {
		return nil, false
	}
	if p.Status != status {
		p.Status = status
	}
	return FromProblem(p), true
}
