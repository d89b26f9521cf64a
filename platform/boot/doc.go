// Package boot starts and stops one service instance the same way for every
// service: configuration from the environment, logger, metrics, the NATS
// connection, the registry watch, the event bus, the database with its
// migrations, token verification and the internal RPC client; then the HTTP
// server with the shared middleware and the health and metrics endpoints.
//
// Lifecycle, in order:
//
//  1. Start connects to everything the instance needs. A dependency that is
//     down fails Start, the process exits non-zero and its supervisor (the
//     launcher or Kubernetes) restarts it with backoff.
//  2. Run listens, starts the background workers (event consumers, outbox
//     relays, timers), and registers the instance in the registry only once
//     /health/ready answers 200 — callers never see an instance that cannot
//     serve.
//  3. On SIGINT/SIGTERM (context cancelled) it deregisters first, so callers
//     stop picking it, then drains HTTP requests (up to ShutdownTimeout),
//     stops the workers, and closes the database and the NATS connection.
//     A worker that fails ends the instance with its error: the supervisor
//     restarts it rather than leaving it half-alive.
//
// Profiling: with SOUK_PPROF_ADDR (every service) or
// SOUK_<SERVICE>_PPROF_ADDR (one service) set to a loopback address, Run
// also serves net/http/pprof there, on its own listener and mux; a
// non-loopback address is a configuration error, a port that cannot be
// bound only a warning. Off by default.
package boot
