// Package launcher is what `souk up` runs: the embedded NATS server with
// JetStream and a supervisor that starts every service instance as its own
// OS process, restarts the ones that die, and stops them all on a signal.
//
// Processes. Each instance is `souk serve <service>` started from the same
// executable with its settings in the environment (SOUK_INSTANCE,
// SOUK_NATS_URL, SOUK_DATA, SOUK_SERVICE_SECRET, SOUK_HTTP_ADDR). Children
// get SIGKILL from the kernel if the launcher dies (Pdeathsig), so killing
// the launcher never leaves orphans behind.
//
// Supervision. A child that exits while the launcher runs is removed from
// the registry at once (callers stop picking it before its lease would
// expire) and restarted after a backoff that doubles while it keeps
// crashing soon after start (200 ms up to 10 s) and resets once it has run
// for 10 s.
//
// Logs. Every line a child writes goes to <data>/logs/<instance>.log and,
// prefixed with "service/instance |", to the launcher's output. A line over
// 1 MiB is split rather than dropped, so a child never blocks on its output.
//
// Readiness. Instances register themselves only once ready; the launcher
// prints its ready line when every instance it started is registered and
// the gateway's /health answers 200.
//
// Control. The launcher serves a small HTTP API on a free loopback port,
// registered as the service "launcher": the instance list with pids and
// restart counts, kill (SIGKILL, then the usual restart: what `souk chaos`
// does), and stop/start (hold an instance down until started again: how a
// test takes a whole service away). It answers only to service tokens; the
// gateway's admin routes lead to it.
//
// Stopping. On context end it sends SIGTERM to every child, waits up to
// 4 s, SIGKILLs what is left, then stops the broker: the whole system is
// down within 5 s.
package launcher
