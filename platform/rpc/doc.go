// Package rpc is the client every service uses for its internal HTTP calls:
// discovery → load balancing → resilience → transport.
//
//	err := client.Do(ctx, "inventory", rpc.Call{
//		Method: http.MethodPost, Path: "/reservations", Body: req,
//	}, &resp)
//
// # Path of a call
//
// Do asks the Resolver for the callee's instances (none: Unavailable at
// once) and keeps one balancer per callee (package balancer: P2C on least
// outstanding requests, EWMA latency, passive ejection). The balancer is
// updated only when the resolver hands out a new snapshot, which the client
// tells by the slice's backing array and length, so an unchanged registry
// costs two comparisons per call. The call then runs under
// github.com/failsafe-go/failsafe-go policies, composed per callee as
//
//	Retry(CircuitBreaker(Timeout(attempt)))
//
// so each attempt has its own deadline (Options.Timeout, default 2s, or
// Call.Timeout), bounded by ctx's, and passes the breaker on its own. An
// attempt picks an instance, avoiding the one the previous attempt failed
// on, sends the request and reads the whole answer (at most
// MaxResponseBytes) before the attempt ends, so connections are reused.
//
// # Retries
//
// Only calls marked Idempotent are retried: up to Options.Retries (default
// 2) more attempts, with exponential backoff from 10ms to 200ms and 25%
// jitter, on connection errors, attempt timeouts and 502/503/504 answers,
// each on another instance when there is one. A 500 is not retried (a bug
// answers the same way twice), nor is a 4xx. One exception covers every
// call: a request whose connection could not be opened never reached the
// callee, so it is sent to another instance at once, idempotent or not (as
// gRPC's transparent retries do). A POST that reached an instance is never
// sent twice.
//
// # Circuit breaker
//
// One breaker per callee service (BreakerOptions): it opens after
// FailureThreshold consecutive failures (default 5), or on a failure rate
// over a window if FailureRate is set; failures are connection errors,
// attempt timeouts and 5xx answers, never 4xx. While open, calls fail at
// once with fault.Unavailable (code "unavailable", RetryAfter the remaining
// delay) without touching the network. After Delay (default 2s) it lets
// trial calls through (half-open) and closes after SuccessThreshold (default
// 2) successes; a failure opens it again. A call cancelled by its caller
// counts as a success for the breaker (failsafe must release the permit
// either way); it is rare enough not to matter.
//
// # Passive health
//
// A refused or reset connection ejects that instance from the balancer (2s,
// doubling while it keeps refusing, up to 30s), so a killed instance stops
// getting traffic at once rather than when its registry lease ends.
//
// # Headers and errors
//
// Every request carries X-Request-Id from telemetry.RequestID(ctx), the W3C
// trace context of ctx (traceparent, tracestate), Authorization from
// Options.Token unless the call sets it, a User-Agent naming the caller,
// and Content-Type: application/json when there is a body. A 2xx answer is
// decoded as JSON into out. A problem+json answer becomes the callee's own
// *fault.Error (fault.DecodeProblem), so a 409 out_of_stock from inventory
// is a 409 out_of_stock for the caller too; another non-2xx answer is
// Unavailable (5xx) or Invalid (4xx); an attempt timeout or ctx's deadline
// is Timeout. Errors are wrapped with "call <service> <method> <path>".
//
// # Concurrency and cost
//
// A Client is safe for concurrent use; one per process is meant to be
// shared. The per-callee state is found through an atomic pointer to an
// immutable map, the balancer's Pick takes no lock, and metric children are
// cached per label set. The overhead over a bare net/http call is what
// failsafe's executors allocate per call (measured by BenchmarkDo against
// BenchmarkBareHTTP).
//
// # Metrics
//
// With Options.Metrics set: souk_rpc_client_calls_total{callee,method,
// outcome}, souk_rpc_client_duration_seconds{callee,method},
// souk_rpc_client_retries_total{callee} and
// souk_rpc_client_breaker_state{callee} (0 closed, 1 half-open, 2 open), all
// with a constant caller label.
package rpc
