package gateway

import (
	"net"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/valyala/fasthttp"

	"github.com/souk/souk/platform/balancer"
	"github.com/souk/souk/platform/registry"
)

// resolver is what the gateway needs of the registry.
type resolver interface {
	Instances(service string) []registry.Instance
	Generation() uint64
}

// upstreams holds, per service, a balancer kept in step with the registry
// and a circuit breaker, and one pooled fasthttp client per address.
type upstreams struct {
	reg resolver

	mu       sync.RWMutex
	services map[string]*upstream

	clients sync.Map // addr → *fasthttp.HostClient

	// dial, when set, replaces the TCP dial (tests and benchmarks).
	dial fasthttp.DialFunc
}

type upstream struct {
	name    string
	bal     *balancer.Balancer
	breaker circuitbreaker.CircuitBreaker[any]
	gen     uint64
	genMu   sync.Mutex
}

func newUpstreams(reg resolver) *upstreams {
	return &upstreams{reg: reg, services: map[string]*upstream{}}
}

// service returns the upstream of name, its balancer refreshed if the
// registry changed since the last call.
func (u *upstreams) service(name string) *upstream {
	u.mu.RLock()
	up, ok := u.services[name]
	u.mu.RUnlock()
	if !ok {
		u.mu.Lock()
		if up, ok = u.services[name]; !ok {
			up = &upstream{
				name: name,
				bal:  balancer.New(balancer.Options{}),
				// Opens after 5 consecutive failures (connection errors,
				// timeouts, 5xx), probes again after 2 s, closes after 2
				// successes: the same policy as package rpc.
				breaker: circuitbreaker.NewBuilder[any]().WithFailureThreshold(5).WithDelay(2 * time.Second).WithSuccessThreshold(2).Build(),
				gen:     ^uint64(0),
			}
			u.services[name] = up
		}
		u.mu.Unlock()
	}
	if gen := u.reg.Generation(); gen != up.currentGen() {
		up.genMu.Lock()
		if up.gen != gen {
			up.bal.Update(u.reg.Instances(name))
			up.gen = gen
		}
		up.genMu.Unlock()
	}
	return up
}

func (up *upstream) currentGen() uint64 {
	up.genMu.Lock()
	defer up.genMu.Unlock()
	return up.gen
}

// client returns the pooled client of addr.
func (u *upstreams) client(addr string) *fasthttp.HostClient {
	if c, ok := u.clients.Load(addr); ok {
		return c.(*fasthttp.HostClient)
	}
	hc := &fasthttp.HostClient{
		Addr:                          addr,
		Name:                          "souk-gateway",
		MaxConns:                      1024,
		MaxIdleConnDuration:           30 * time.Second,
		MaxConnWaitTimeout:            time.Second,
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  10 * time.Second,
		MaxResponseBodySize:           16 << 20,
		DisablePathNormalizing:        true,
		DisableHeaderNamesNormalizing: true,
		NoDefaultUserAgentHeader:      true,
		// Retries are the gateway's decision (another instance, only when
		// safe), never the client's: fasthttp would otherwise resend
		// idempotent requests up to 5 times on its own.
		MaxIdemponentCallAttempts: 1,
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			return fasthttp.DialTimeout(addr, min(timeout, time.Second))
		},
	}
	if u.dial != nil {
		hc.DialTimeout, hc.Dial = nil, u.dial
	}
	c, _ := u.clients.LoadOrStore(addr, hc)
	return c.(*fasthttp.HostClient)
}

// breakers reports the state of each service's breaker.
func (u *upstreams) breakers() map[string]string {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make(map[string]string, len(u.services))
	for name, up := range u.services {
		switch {
		case up.breaker.IsOpen():
			out[name] = "open"
		case up.breaker.IsHalfOpen():
			out[name] = "half-open"
		default:
			out[name] = "closed"
		}
	}
	return out
}
