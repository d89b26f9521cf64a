// Package fault gives errors a kind, a stable machine-readable code and a
// message that is safe to show to a user, and maps them to HTTP status codes
// and RFC 9457 problem details.
//
// Every layer wraps errors with context (fmt.Errorf("reserve %s: %w", id,
// err)); the kind survives wrapping because KindOf and As use errors.As. An
// error that carries no *Error is an internal error: its text is logged but
// never shown, and the client sees 500 "internal error".
//
// Problems travel between services: a service writes a Problem, the caller's
// client turns it back into an *Error with FromProblem, so a 409
// out_of_stock from inventory reaches the user as the same 409
// out_of_stock through the order service and the gateway.
package fault
