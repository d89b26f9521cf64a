package rpc

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/souk/souk/platform/fault"
)

// errNoInstance: the balancer had no endpoint for an attempt.
var errNoInstance = errors.New("no instance")

// transportError: the request failed before a whole answer was read
// (connection refused or reset, a broken body).
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// statusError: the callee answered with a status that is not 2xx.
type statusError struct {
	status int
	fault  *fault.Error
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %v", e.status, e.fault) }
func (e *statusError) Unwrap() error { return e.fault }

// callerError: the caller's context ended during the attempt; neither the
// breaker nor the retry policy holds that against the callee.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }
func (e *callerError) Unwrap() error { return e.err }

// newStatusError decodes a problem+json answer into the callee's own fault,
// or makes one from the status.
func newStatusError(service string, status int, body []byte) *statusError {
	if fe, ok := fault.DecodeProblem(status, body); ok {
		return &statusError{status: status, fault: fe}
	}
	cause := fmt.Errorf("status %d without a problem body", status)
	if status >= 500 {
		return &statusError{status: status, fault: unavailable(service, cause)}
	}
	return &statusError{status: status, fault: &fault.Error{
		Kind:    fault.Invalid,
		Code:    "invalid",
		Message: service + " rejected the request",
		Err:     cause,
	}}
}

func unavailable(service string, cause error) *fault.Error {
	return &fault.Error{Kind: fault.Unavailable, Code: "unavailable", Message: service + " is unavailable", Err: cause}
}

func timedOut(service string, cause error) *fault.Error {
	return &fault.Error{Kind: fault.Timeout, Code: "timeout", Message: service + " did not answer in time", Err: cause}
}

// breakerFailure is what the circuit breaker counts as a failure of the
// callee: connection errors, attempt timeouts and 5xx answers. A 4xx means
// the service works; the caller's own cancellation says nothing about it.
func breakerFailure(_ struct{}, err error) bool {
	if err == nil {
		return false
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.status >= 500
	}
	var ce *callerError
	if errors.As(err, &ce) {
		return false
	}
	var te *transportError
	return errors.As(err, &te) || errors.Is(err, timeout.ErrExceeded)
}

// retryable is what an idempotent call retries on: connection errors,
// attempt timeouts, and 502/503/504 (a proxy or the callee says it cannot
// serve now). Not 500: a bug answers the same way twice.
func retryable(_ struct{}, err error) bool {
	if err == nil {
		return false
	}
	var se *statusError
	if errors.As(err, &se) {
		switch se.status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var ce *callerError
	if errors.As(err, &ce) {
		return false
	}
	var te *transportError
	return errors.As(err, &te) || errors.Is(err, timeout.ErrExceeded)
}

// neverSent reports whether the request failed while connecting, so the
// callee never saw it: any call, idempotent or not, can go to another
// instance (gRPC's "transparent retry").
func neverSent(_ struct{}, err error) bool {
	var te *transportError
	if !errors.As(err, &te) {
		return false
	}
	var op *net.OpError
	return errors.As(te.err, &op) && op.Op == "dial"
}
