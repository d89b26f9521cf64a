// Package broker owns the connection to NATS and, in the embedded mode, the
// NATS server itself.
//
// StartEmbedded runs nats-server in this process with JetStream on file
// storage under a directory, listening on a random loopback port: it never
// binds 4222 or another well-known port (5432, 5672, 6379, 3306, 1883, 8222),
// so it cannot collide with a broker or database that is already running. It
// takes no OS signals; the caller stops it with Shutdown, which waits until
// every stream is flushed and closed. With SyncAlways each JetStream write is
// fsynced before it is acknowledged (strict durability for the money paths, at
// a large cost in publish throughput); without it the server syncs every two
// minutes and an acknowledged message can be lost only by a machine crash, not
// a process crash.
//
// Connect returns one client connection and its JetStream handle, shared by
// the whole process. The connection reconnects forever with a short, jittered
// wait, buffering up to 8 MiB of publishes while disconnected, and logs every
// disconnect and reconnect; callers therefore see a broker outage as slow or
// failed requests (JetStream publishes time out without an ack), never as a
// dead connection. Only the first connect fails fast: Connect returns an
// error when the server cannot be reached before ctx ends.
//
// Both are safe for concurrent use.
package broker
