// Package outbox makes "change the database and publish an event" atomic:
// the event is written in the same transaction as the change (Add), and a
// relay publishes committed events to JetStream afterwards, oldest first,
// marking each as published once the broker has acknowledged it.
//
// Delivery is at least once. A crash between the broker's ack and the mark
// republishes the batch on restart; JetStream drops the copies because the
// message id is the event id (within its duplicate window), and consumers
// dedupe by event id in their inbox in any case (sqlstore.Tx.Inbox).
//
// Ordering. Within one relay, events are published in seq order and the
// relay does not move past a batch until all of it is acknowledged. Rows are
// chosen by "not yet published", not by "seq above a cursor", so a
// transaction that commits late with a lower seq (possible on PostgreSQL)
// is never skipped. A source whose rows appear in seq order (SQLite, one
// writer: OrderedSource) is read with a cursor past the last seq
// published, and its rows are marked once per poll interval, in one
// transaction, instead of after every batch.
//
// Latency. Writers call Notify after commit, which wakes the relay at once;
// a poll (default 100 ms) catches the writes of other processes and anything
// a notify missed. Several relays over one database (replicas) are safe:
// duplicates are dropped as above. Run marks a batch published in the
// background while it reads and publishes the next: on SQLite the mark
// waits for the process's one write connection, which the service's own
// transactions keep busy under load, and with the mark in line the relay
// fell seconds behind at a few hundred orders/s
// (docs/benchmarks.md, "Event lag"). Rows published but not yet marked are
// skipped by the next reads; up to 8 batches may wait to be marked.
//
// Any table can be relayed through a Source; the order service relays its
// event store, which is its outbox.
package outbox
