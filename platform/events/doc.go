// Package events is the event bus: services publish facts (ORDER_PLACED)
// to NATS JetStream and other services consume them, at least once.
//
// # Streams and subjects
//
// Each publishing service owns one stream, StreamOf(source) =
// "<SOURCE>_EVENTS", holding the subjects "<source>.>"; an event of type T
// goes to SubjectOf(source, T) = "<source>.<lowercase T>". Streams use file
// storage, keep events for Options.MaxAge (30 days) and drop a message whose
// id (Nats-Msg-Id, the event's UUIDv7) was seen in the last two minutes. The
// publisher calls EnsureStream at start; a consumer that starts first creates
// the stream with its own options and never changes an existing one.
//
// # Publishing
//
// Publish waits for JetStream's ack: once it returns nil the event is
// stored (fsynced too when the server runs with SyncAlways). PublishBatch is
// the outbox relay's path: it sends the batch without waiting, in order, and
// then waits for every ack, returning an error naming the first failure. The
// relay retries a failed batch whole; the stored part is dropped as
// duplicates. The body is the JSON of the event; Event.Headers, the request id
// (X-Request-Id) and the W3C trace context of ctx travel as NATS headers.
//
// # Consuming
//
// Consume runs a durable pull consumer named ConsumerConfig.Durable. All
// processes of a service use the same durable and so share the work: each
// event goes to one of them, Concurrency handlers at a time per process.
// Delivery is at least once, in stream order for one handler at a time but
// not across retries: consumers dedupe by event id (an inbox written in the
// same transaction as the effect). For each message Consume decodes the
// event, puts the request id and trace context from its headers into the
// handler's ctx and calls the handler:
//
//   - nil: the message is acked.
//   - an error: it is redelivered after BackOff[attempt-1] (NakWithDelay;
//     the delays are applied by the client, not set on the consumer, because
//     a consumer-level BackOff replaces AckWait and would redeliver a slow
//     handler's event after 500ms).
//   - Permanent(err), an error on attempt MaxDeliver, a body that is not an
//     event, or an event delivered more than MaxDeliver times (the process
//     died while handling it): it is written to the DLQ and terminated.
//
// A handler that runs longer than AckWait/2 keeps its message in progress,
// so it is not redelivered meanwhile. A handler that panics counts as
// failed.
//
// Consume pulls only as many messages as it has free handler slots, so no
// message waits in the client while its AckWait runs, and a busy instance
// leaves the rest to the others. (The client's Messages iterator with a small
// buffer stalled under load in tests with nats.go 1.55: the server held no
// pull request while the client believed one open; Fetch has no such state.)
// A pull waits up to 30s with idle heartbeats every 5s, so a pull lost with a
// broker restart is replaced within about 10s.
//
// When ctx ends, handlers see their ctx cancelled; a message in flight then
// is never acked as a success but handed back for redelivery (after 100ms:
// NATS 2.9 forgets the attempt on a plain Nak of the last delivered message).
// Consume waits for the handlers to return, then returns nil. If the
// consumer fails (deleted, lost by the server), Consume recreates it after a
// second.
//
// # Dead letters
//
// The DLQ stream holds one message per dead letter on "dlq.<durable>", with
// the original subject, headers and body verbatim, the consumer, the attempts
// and the last error. DeadLetters lists them, Redrive republishes one to its
// original subject (all consumers of that subject see it again and their
// inboxes skip it if done) and deletes it, RedriveAll does all.
//
// # Metrics
//
// With Options.Metrics set, every consumer reports two series, labelled
// with its durable name and resolved once when Consume starts:
//
//   - souk_event_lag_seconds{consumer}: a histogram of now − Event.Time
//     taken when the handler returns nil, i.e. when its effect has
//     committed. Event.Time is stamped by the publisher (New, or the
//     outbox row's time), so the lag spans the publisher's commit, the
//     outbox relay, the broker, delivery, waiting for a handler slot and
//     the handler; a redelivered event's lag includes its backoff. An event
//     without a time is not observed; a publisher clock ahead of ours
//     counts as 0. Buckets (LagBuckets) run from 1 ms to 5 minutes, fine
//     around the 50 ms target.
//   - souk_events_handled_total{consumer,outcome}: every delivery, by
//     outcome: ok, retry, dead_letter, shutdown.
//
// # NATS 2.9
//
// Everything here runs on NATS 2.9 and later: one filter subject per
// consumer (FilterSubject, not FilterSubjects), consumers created through
// $JS.API.CONSUMER.CREATE.<stream>.<durable>.<filter> (2.9+), no per-message
// TTL, no batch publish API.
//
// The Bus is safe for concurrent use.
package events
