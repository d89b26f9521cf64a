// Package httpapi is the HTTP surface shared by the services: strict JSON
// decoding, JSON and problem+json responses, field validation, and the
// middleware every service runs (request id, panic recovery, access log,
// metrics, security headers, body limits).
//
// Decoding is strict because every byte from outside is hostile until
// proven otherwise: unknown fields, duplicate names, wrong types, trailing
// data and bodies over the limit are errors with a message naming the
// field, never a silent zero value. A ServeMux's own 404 and 405 pages
// become problems too (Routes). Responses for errors are always problem+json with a stable
// code (see package fault); an error of unknown kind is logged with the
// request id and shown as "internal error".
//
// Handlers are plain http.Handlers; nothing here holds state between
// requests except the Prometheus collectors, which are safe for concurrent
// use.
package httpapi
