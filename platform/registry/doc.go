// Package registry is the service registry: every running instance puts a
// lease key in a NATS key-value bucket and refreshes it, and every caller
// keeps a local cache of the live instances from a watcher on that bucket.
//
// # Leases
//
// Register puts the key "<service>.<id>" holding the Instance as JSON, with
// Heartbeat set to now, and re-puts it every Options.Heartbeat (Lease/3 by
// default) until the Lease is closed, which deletes the key. The bucket's TTL
// (stream MaxAge) is the lease: a holder that dies without closing stops
// refreshing, and its key ages out of the bucket after Lease. A failed
// heartbeat is logged and retried at the next tick; the NATS connection
// reconnects by itself, so a broker outage shorter than the lease costs
// nothing. Deregister deletes a key on behalf of a holder known to be dead
// (the launcher calls it when a child process exits), so the instance leaves
// at once instead of at lease end.
//
// # Expiry on NATS 2.9
//
// NATS 2.9 has no per-key TTL and sends watchers no marker when a key ages
// out, so a watcher alone would keep a dead instance forever. Every cache
// therefore also drops an entry whose Heartbeat is older than Lease: on
// arrival, and on a prune timer every Lease/4. The same rule works on newer
// servers. It compares the holder's clock (Heartbeat) with the reader's, so
// hosts must keep their clocks within a fraction of the lease (NTP does).
// An instance leaves a cache between Lease and Lease*5/4 after its last
// heartbeat.
//
// # Cache and concurrency
//
// Watch loads the bucket into the cache and keeps it current from a watcher
// until its context ends. When the watcher ends (a consumer that could not be
// recreated) or the connection has reconnected, Watch starts a new watcher
// and rebuilds the cache from its initial values, so deletes missed during
// an outage are not kept. While rebuilding, readers keep the previous
// snapshot. Only one Watch runs at a time per Registry; after it ends the
// cache stays as it was (and no longer expires entries) until Watch is
// called again.
//
// Instances is the hot path of every internal call: it loads an immutable
// snapshot with one atomic load and returns a slice shared by all callers,
// without allocating or locking. A new snapshot is published only when the
// set of instances or an instance's fields change, not on every heartbeat, so
// the Heartbeat in those slices is the one seen when the instance last
// changed; All returns current heartbeats. Changed and Generation tell a
// caller (a load balancer keeping per-instance state) that the set changed.
//
// All methods are safe for concurrent use.
package registry
