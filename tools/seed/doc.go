// Package seed fills a stopped Souk store with a large, consistent
// history, for `souk seed`: users in auth with their profiles in user, and
// orders spread over them, each a complete CONFIRMED checkout as the saga
// and the event consumers leave it — the order's four events (already
// published) and read-model row and Idempotency-Key, the payment's charge
// and ledger capture, the inventory's committed reservation and the units
// sold, the confirmation email and the pending warehouse task. `souk
// verify` holds on a seeded store. It exists to measure how the system
// behaves when it is no longer new (bench/growth.sh).
//
// # Writing through the services' own stores
//
// Each database is opened with sqlstore.Open and its service's Migrations,
// exactly as `souk up` opens it (Config.DSN gives the same DSNs:
// <data>/<service>/<service>.db or SOUK_<SERVICE>_DATABASE_URL), and every
// row is written by the service's own Seed* store function (order
// SeedPlaced, payment SeedCaptured, inventory SeedCommitted and SeedSold,
// notification SeedConfirmation, warehouse SeedTask, auth SeedUser, user
// SeedProfile), so the schema, the stored JSON and the email text are the
// services'. The package holds no SQL that writes.
//
// What is not written, and why: no outbox rows, inbox rows or
// USER_REGISTERED events — in a store that has run for a year those were
// published, consumed and pruned long ago; order events carry
// published_at, so the relay does not publish a million events on start.
// No ANALYZE is run: the services never run it, so the planner sees the
// seeded store as it would see a grown one.
//
// # Data
//
// Users are seed-<i>@example.com (i from 1), all with the password
// Password, registered during the month before the orders begin. Every
// user gets the same precomputed argon2id hash of Password: hashing is
// deliberately slow (19 MiB and about 60 ms each on a development machine,
// so 100,000 of them would take 100 minutes of CPU: close to an hour on
// two cores), and one shared hash logs in exactly like a hash of its own
// (the salt is shared too, which matters only to an attacker holding the
// table, and these are test accounts). Orders are
// spread evenly over Config.Span ending an hour before Config.Now, in time
// order, each owned by a user drawn from a shuffled deck that holds every
// user Orders/Users times (so each has that many, ±1, scattered through
// the table as real customers' orders are). An order has 1 to 3 distinct
// products of the sample catalog, 1 or 2 of each, at the catalog's prices,
// paid with the test card 4242... Ids are UUIDv7 at the time they stand
// for; with the same Config.Seed and Config.Now the data are identical.
//
// # Concurrency and speed
//
// Users go first (auth, then user), then the orders: one goroutine
// generates batches of Config.Batch orders and five writers — order,
// payment, inventory, notification, warehouse — each write every batch in
// one transaction of their own database, in parallel. The order database
// (six rows an order) is the slowest; progress lines report orders done
// by the slowest writer and rows per second overall.
//
// # Failure
//
// The system must be stopped: the seed does not coordinate with running
// services. A database that cannot be opened or a write that fails stops
// the whole seed (the other writers stop after their current batch) and
// Run returns the first error. Seeding an auth store that already holds
// seed-1@example.com fails before any order is written (email_taken).
// Databases do not share transactions, so an interrupted or failed seed
// leaves batches in some databases and not in others: delete the data
// folder and seed again.
package seed
