// Package telemetry carries what lets an operator follow one request through
// the system: the request id (X-Request-Id, propagated on every internal
// call and event), structured JSON logs tagged with service and instance,
// Prometheus metrics, and OpenTelemetry trace context (W3C traceparent in
// HTTP and NATS headers).
//
// Logging never blocks on a slow terminal for long: the logger writes to the
// process's stderr, which the launcher drains line by line.
package telemetry
