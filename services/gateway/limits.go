package gateway

import (
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits configures the gateway's protection against overload and abuse.
// Every field has an environment variable (see Run) and a default.
type Limits struct {
	// ClientRate and ClientBurst bound each client: a user by id once
	// authenticated, else an IP address (SOUK_GATEWAY_RATE, default 50/s;
	// SOUK_GATEWAY_BURST, default 100).
	ClientRate  float64
	ClientBurst int
	// AnonymousRate and AnonymousBurst bound each IP address without a
	// user token (SOUK_GATEWAY_ANON_RATE, default 100/s, burst 200): many
	// users share an address behind NAT.
	AnonymousRate  float64
	AnonymousBurst int
	// LoginPerAccount and LoginPerIP bound login attempts per minute
	// (SOUK_GATEWAY_LOGIN_ACCOUNT, default 5; SOUK_GATEWAY_LOGIN_IP,
	// default 30): enough for a person, too few to guess passwords.
	LoginPerAccount int
	LoginPerIP      int
	// MaxInflight caps requests in progress; beyond it the gateway sheds
	// load with 503 before queues build up and latency collapses
	// (SOUK_GATEWAY_MAX_INFLIGHT, default 512).
	MaxInflight int64
	// TrustedProxies are the peers whose X-Forwarded-For is believed
	// (SOUK_GATEWAY_TRUSTED_PROXIES, CIDRs; souk up trusts loopback).
	TrustedProxies []netip.Prefix
	// MetricsFrom are the addresses, besides loopback, that may scrape the
	// gateway's /metrics (SOUK_GATEWAY_METRICS_FROM, CIDRs): /metrics
	// shares the public port and is not for the public.
	MetricsFrom []netip.Prefix
}

// DefaultLimits are the limits when nothing is configured.
func DefaultLimits() Limits {
	return Limits{ClientRate: 50, ClientBurst: 100, AnonymousRate: 100, AnonymousBurst: 200, LoginPerAccount: 5, LoginPerIP: 30, MaxInflight: 512}
}

// ParsePrefixes parses a comma-separated list of CIDRs or addresses.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// limiterSet is a set of token buckets keyed by client, sharded to keep lock
// contention low, with idle buckets evicted.
type limiterSet struct {
	limit  rate.Limit
	burst  int
	seed   maphash.Seed
	shards [32]limiterShard
}

type limiterShard struct {
	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiterSet(perSecond float64, burst int) *limiterSet {
	s := &limiterSet{limit: rate.Limit(perSecond), burst: burst, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = map[string]*bucket{}
	}
	return s
}

// limits reports whether s limits anything: a nil set or a rate of 0 lets
// everything through.
func (s *limiterSet) limits() bool { return s != nil && s.limit > 0 }

// allow takes a token for key; when there is none it returns how long until
// one is available.
func (s *limiterSet) allow(key string, now time.Time) (bool, time.Duration) {
	if !s.limits() {
		return true, 0
	}
	sh := &s.shards[maphash.String(s.seed, key)%uint64(len(s.shards))]
	sh.mu.Lock()
	b, ok := sh.m[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(s.limit, s.burst)}
		sh.m[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	sh.mu.Unlock()
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict drops buckets idle since before cutoff; a full bucket forgets
// nothing by being dropped.
func (s *limiterSet) evict(cutoff time.Time) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, b := range sh.m {
			if b.seen.Before(cutoff) {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

func (s *limiterSet) size() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].m)
		s.shards[i].mu.Unlock()
	}
	return n
}

// clientIP is the address of the client: the peer, or when the peer is a
// trusted proxy, the last untrusted address in X-Forwarded-For.
func clientIP(peer netip.Addr, xff string, trusted []netip.Prefix) netip.Addr {
	if xff == "" || !isTrusted(peer, trusted) {
		return peer
	}
	parts := strings.Split(xff, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return peer
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a
		}
	}
	return peer
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
