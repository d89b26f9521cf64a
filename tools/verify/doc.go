// Package verify audits Souk's invariants (DESIGN.md, "Invariants") across
// services through their own audit APIs, for `souk verify`.
//
// It has three parts. Fetch (HTTP) pages through the admin audit routes of
// the gateway — orders, charges, stock, reservations, notifications and
// tasks — to the end, into a Data of plain structs. Check is pure: given a
// Data (and optionally the Expectations of a load run) it returns a Report
// with one Result per invariant, the ids that break it, and a Summary. Run
// repeats fetch-and-check until the report holds or the wait passes, since
// sagas finish and events (emails, tasks, stock releases) arrive
// asynchronously; the last report is the answer.
//
// Contract: every check can fail and each names the ids involved (orders,
// or products for the stock checks), sorted. A Report is OK only when every
// check is. Fetch reads the order audit last, so a charge or reservation it
// saw belongs to an order the order audit already lists (orders are created
// before any stock or money moves); an order placed during the audit may
// still make other checks fail on one pass, which the retries of Run absorb.
//
// Concurrency: Fetch reads the five other audits in parallel and is safe for
// concurrent use; Check and the Report methods are pure.
//
// Failure: an error from Fetch means the system could not be audited (the
// gateway down, bad credentials, an endpoint answering garbage), which is
// not a violation. Run retries fetches that fail for a transient reason
// (transport errors, 429, 5xx) until the wait passes, and gives up at once
// on any other error.
package verify
