// Package legacy is a small, deliberately old-style monolith that stands in
// for "the system you are replacing": the thing a strangler fig grows
// around. `souk legacy` runs it as one process with one database (SQLite
// under its data folder by default, PostgreSQL when given a DSN), holding
// products, their stock and their sales in tables that join freely.
//
// It serves a few old endpoints that overlap Souk's public API, so the
// gateway can move them one at a time from the monolith to Souk's services
// by editing its routes file (docs/strangler.md):
//
//	GET /api/v1/products[?limit=&cursor=]  the catalog's list: {items:[{id,name,description,price_cents,currency}],next_cursor}
//	GET /api/v1/products/{id}              the product page: {id,name,description,price_cents,currency,stock:{available},recommendations:[]}
//	GET /api/v1/search?q=[&limit=]         a naive LIKE search: {items:[{id,name,description,price_cents,currency,score}]}
//	GET /legacy/reports/sales[?top=]       a report Souk has no equivalent of, joining sales and products
//	GET /health                            {"status":"healthy"} when the database answers, else 503
//
// The overlapping endpoints keep Souk's contract to the letter, down to
// the opaque list cursor (the last id in base64url, as the catalog's), so a
// client paging through the list may cross from one system to the other
// between two pages without noticing. Errors are problem+json with a stable
// code, as everywhere in Souk. Every response, errors included, carries the
// header X-Served-By: legacy, which no Souk service sets: that is how tests
// and people tell who answered a request that went through the gateway.
//
// On its first start (an empty products table) it seeds the sample catalog
// of package sampledata, with its stock, and a fixed set of fake sales, in
// one transaction; later starts keep what the database holds.
//
// Concurrency and failure: the handlers are safe for concurrent use and
// hold no state but the database. A failed query is a 500 problem, logged
// with the request id; a database that does not answer makes /health 503.
// Run stops on its context: it stops accepting connections, lets requests
// in flight finish (up to ShutdownTimeout), closes the database and returns
// nil. Its keep-alive idle timeout (2 minutes) is longer than the gateway's
// (30 seconds), so a pooled gateway connection is always closed by the
// gateway first and never raced by the monolith closing it mid-request.
package legacy
