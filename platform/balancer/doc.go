// Package balancer picks the instance of a service that a client-side call
// goes to: power of two choices (P2C) on least outstanding requests, with an
// EWMA of latency as the tie-breaker, and passive ejection of endpoints whose
// connections fail.
//
// # Algorithm
//
// Pick draws two distinct endpoints at random among those that are not
// ejected (and not the one the caller asks to exclude, when another exists)
// and keeps the one with fewer requests in flight; on a tie, the one whose
// latency EWMA is lower by more than a fifth wins (closer latencies are
// noise, and the random order of the pair decides). The loser is picked anyway when it has not
// been picked for forcePick (1s), so a slow or new endpoint's latency is
// measured again and an endpoint that recovered gets traffic back.
//
// The latency EWMA decays with time, not with the number of samples: a
// sample that arrives td after the previous one has weight 1-exp(-td/τ) with
// τ = 10s, and the first sample is taken as it is.
//
// The constants are those of go-zero's P2C balancer
// (zrpc/internal/balancer/p2c/p2c.go: decayTime = 10s "default value from
// finagle", forcePick = 1s, pickTimes = 3, and the decay formula
// w = exp(-td/decayTime) with w = 0 for the first sample). Kratos
// (selector/p2c) uses the same scheme with forcePick = 3s and τ = 600ms. Unlike
// go-zero, whose load is sqrt(lag+1)·(inflight+1), the primary key here is
// the number of requests in flight and latency only breaks ties: under
// concurrency the slow endpoint collects requests in flight and loses the
// comparison by itself, and when calls are sequential (nothing in flight) the
// faster endpoint wins every tie. go-zero's success-rate health score is
// replaced by passive ejection, and the callers' circuit breaker (package rpc)
// handles a service that fails as a whole.
//
// # Ejection
//
// Done counts consecutive connection failures (ConnectionFailure: dial
// errors such as connection refused, and connection resets); after
// Options.EjectAfter of them (default 1) the endpoint is ejected for
// Options.EjectFor (default 2s), doubling at each repeat up to
// Options.MaxEjectFor (default 30s). Any answer from the endpoint, even an
// error status, resets both counts, since the process is reachable. So a
// killed instance stops getting traffic at its first refused connection,
// long before its registry lease ends, and is tried again each time an
// ejection period ends. If every endpoint is ejected, Pick returns the one whose
// ejection ends first rather than failing: the registry still lists them,
// and a failed call costs little more than a refusal.
//
// # Concurrency and cost
//
// All methods are safe for concurrent use. Pick is the hot path: it reads
// the endpoint list through an atomic pointer, takes no lock, draws random
// numbers from math/rand/v2's per-thread generator and does not allocate.
// The statistics are plain atomics, updated without a lock; two Done calls
// racing on the EWMA may lose one sample, which the average shrugs off.
// Update takes a mutex, serialising writers only, and keeps the *Endpoint
// (and so the statistics) of every instance whose ID, address and start
// time are unchanged; when nothing changed it only compares and returns.
//
// # Contract
//
// Every successful Pick must be followed by exactly one Done on the returned
// endpoint, with the time the request started and its outcome, or the
// in-flight count stays high and the endpoint is avoided.
package balancer
