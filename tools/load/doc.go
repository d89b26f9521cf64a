// Package load is Souk's load generator, behind `souk load`: it drives
// realistic customer journeys through the gateway at a fixed arrival rate
// and reports throughput, errors and latency percentiles.
//
// # Open loop, no coordinated omission
//
// The [Engine] is an open-loop scheduler: arrival i is due at
// start + i/rate whatever happened to earlier ones, and is handed to a
// worker goroutine (idle workers are reused, new ones started on demand).
// The first step of every journey is timed from its INTENDED send time, so
// a server that stalls for 300 ms shows up as up to 300 ms of latency on
// every request that was due during the stall — a closed-loop tool, which
// waits for an answer before sending the next request, would record one
// slow request and hide the rest. Likewise a generator starved of CPU that
// dispatches late, or waits for a free connection, charges the wait to the
// latency rather than hiding it. Later steps of the same journey (the
// login after a signup, the second page of a browse) depend on the first
// answer and are timed from when they were sent. Requests in flight are
// capped (Config.MaxInflight, default 20,000); an arrival beyond the cap is
// never silently skipped: it counts as a request and as an error
// "dropped: client saturated". Steps still unanswered when the drain after
// the schedule ends are errors "abandoned: in flight at stop".
//
// The recorder keeps an HDR histogram per step (1 µs to 10 min, 3
// significant digits) and a series per second of completion time (count,
// errors, p50, p99, max) for the progress line and the chart ([WriteSVG]).
//
// # Journeys
//
// The mix (see [ParseMix]) weights the journeys picked per arrival:
// signup (sign up, then log in: two steps, and the user joins the pool),
// login (log a pool user in again; refreshes its token), browse (the first
// page of products, sometimes the next one: step "browse_next"), search
// (a word from the product names), product (a product page) and order
// (1–3 products, quantity 1–2, the test card that succeeds, a unique
// Idempotency-Key) and my_orders (a pool user lists its orders, the first
// page of GET /api/v1/orders: step "my_orders"; then, when it has any,
// opens one of them at random, GET /api/v1/orders/{id}: step "my_order",
// timed from its own send). A step is one HTTP request; any answer >= 400,
// a timeout or a connection error is an error of that step.
//
// Before the measured run, an unmeasured setup reads the catalog (product
// ids and search words), restocks every product to 1,000,000 units as the
// admin when the mix has orders (so a long run does not measure
// out_of_stock; without admin credentials it warns and goes on), signs up
// and logs in Config.Users customers and logs in Config.Accounts, existing
// customers (`souk load --login-users N` names the users of `souk seed`,
// who have orders to list), at most Config.SetupParallel at a time, since
// password hashing is deliberately slow. Accounts join the pool like the
// created users, and every journey of a logged-in user picks from it. A background loop logs
// in again, outside the measurements, any user whose token is older than
// Config.TokenMaxAge (10 minutes; tokens last 15).
//
// # Rate limits and fake client addresses
//
// The gateway limits each user (50/s by default), each anonymous address
// (100/s) and login attempts (per account and per address, per minute),
// and believes X-Forwarded-For from loopback under `souk up`. So that one
// generator looks like many clients, every request carries a stable fake
// address in X-Forwarded-For: user k is always 10.a.b.c derived from k
// (10.0.0.1, 10.0.0.2, ...), and anonymous journeys pick one of
// Config.AnonymousIPs addresses in 10.255.0.0/16. Against a gateway that
// does not trust the generator's address the header is ignored and every
// request counts against one address: expect 429 rate_limited errors then.
// The login limit is per account: with the default 5 per minute, the login
// journey of N pool users sustains about N/12 logins per second; beyond,
// it measures 429s (raise SOUK_GATEWAY_LOGIN_ACCOUNT or --users).
//
// # Accepted orders
//
// [OrderLog] writes one JSON line per order the system accepted
// ({"id","status","idempotency_key","at"} for 201 CONFIRMED and 202
// PENDING) and per order whose fate is unknown ({"idempotency_key","error"}
// for timeouts, connection errors, 5xx answers and orders still in flight
// when the run stops), so an auditor can tell accepted from unknown.
// Definite rejections (4xx) are only counted.
//
// # Concurrency and failure
//
// Run is called once per Config. The recorder takes one mutex per
// completed step (a few hundred nanoseconds); counters are atomic. When ctx
// is cancelled the scheduler stops, in-flight requests get
// Config.DrainTimeout to finish, and the report covers what ran, marked
// interrupted. Run returns an error only when setup fails (the gateway is
// unreachable or no user could be created); errors of the system under
// test are data in the report.
//
// The generator shares the machine with the system it measures, so its
// hot path is cheap: one fasthttp.HostClient (no retries, explicit
// timeouts), pooled requests and buffers, byte scanning instead of JSON
// decoding except for logins and orders. Report.ClientCPUMicros is the
// generator's own CPU per completed request, measured with getrusage.
package load
