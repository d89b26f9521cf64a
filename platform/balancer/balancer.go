package balancer

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/souk/souk/platform/registry"
)

// Constants of go-zero's P2C balancer (zrpc/internal/balancer/p2c/p2c.go).
const (
	decayTime = int64(10 * time.Second) // EWMA time constant, Finagle's default
	forcePick = int64(time.Second)      // pick a loser not picked for this long
	pickTimes = 3                       // random pairs tried before a full scan
)

// Defaults of Options.
const (
	DefaultEjectAfter  = 1
	DefaultEjectFor    = 2 * time.Second
	DefaultMaxEjectFor = 30 * time.Second
)

// ErrNoEndpoints is returned by Pick when the balancer has no endpoint.
var ErrNoEndpoints = errors.New("balancer: no endpoints")

// Options configure a Balancer. The zero value is usable.
type Options struct {
	// Now is the clock; time.Now when nil. Tests inject a fake one.
	Now func() time.Time
	// EjectAfter is how many consecutive connection failures eject an
	// endpoint; default 1, so a refused connection ejects at once.
	EjectAfter int
	// EjectFor is how long the first ejection lasts; default 2s. Each
	// ejection that follows without an answer in between lasts twice as long
	// as the one before, up to MaxEjectFor.
	EjectFor time.Duration
	// MaxEjectFor caps the ejection period; default 30s.
	MaxEjectFor time.Duration
}

type config struct {
	now         func() time.Time
	base        time.Time // times are stored as nanoseconds since base
	ejectAfter  int32
	ejectFor    int64
	maxEjectFor int64
}

func (c *config) nanos(t time.Time) int64 { return int64(t.Sub(c.base)) }

// Endpoint is one instance as the balancer sees it, with its statistics.
// ID and Addr are read-only. The same *Endpoint survives Update as long as
// its instance keeps its ID, address and start time.
type Endpoint struct {
	ID   string // the instance's ID, unique within the service
	Addr string // host:port

	started      time.Time // the instance's start, to tell a restart
	cfg          *config
	inflight     atomic.Int64
	ewma         atomic.Int64 // latency EWMA, ns
	lastDone     atomic.Int64 // when the last sample was taken, ns since base
	lastPick     atomic.Int64 // ns since base
	connFails    atomic.Int32 // consecutive connection failures
	ejections    atomic.Int32 // consecutive ejections without an answer
	ejectedUntil atomic.Int64 // ns since base; ejected while now < it
}

// Inflight returns the number of requests picked and not yet done.
func (e *Endpoint) Inflight() int64 { return e.inflight.Load() }

// Latency returns the EWMA of the endpoint's latency, 0 before any sample.
func (e *Endpoint) Latency() time.Duration { return time.Duration(e.ewma.Load()) }

// Ejected reports whether the endpoint is ejected now.
func (e *Endpoint) Ejected() bool {
	return e.ejectedUntil.Load() > e.cfg.nanos(e.cfg.now())
}

// EjectedUntil returns when the current ejection ends, or the zero time if
// the endpoint is not ejected.
func (e *Endpoint) EjectedUntil() time.Time {
	until := e.ejectedUntil.Load()
	if until <= e.cfg.nanos(e.cfg.now()) {
		return time.Time{}
	}
	return e.cfg.base.Add(time.Duration(until))
}

// Eject takes the endpoint out of rotation for d from now; d <= 0 puts it
// back at once. It does not change the doubling of passive ejections.
func (e *Endpoint) Eject(d time.Duration) {
	if d <= 0 {
		e.ejectedUntil.Store(0)
		return
	}
	e.ejectedUntil.Store(e.cfg.nanos(e.cfg.now()) + int64(d))
}

// Done ends a request that Pick sent to e. start is when the request
// started, read from the balancer's clock (Options.Now, time.Now by
// default); err is its outcome: nil or an error the endpoint answered with
// (an error status, a timeout) counts as an answer and feeds the latency
// EWMA; a connection failure (see ConnectionFailure) counts toward
// ejection and leaves the EWMA alone, since a refusal is fast and would make
// a dead endpoint look attractive. Done must be called exactly once per
// successful Pick.
func (e *Endpoint) Done(start time.Time, err error) {
	e.inflight.Add(-1)
	nowT := e.cfg.now()
	now := e.cfg.nanos(nowT)
	if err != nil && ConnectionFailure(err) {
		if e.connFails.Add(1) >= e.cfg.ejectAfter {
			e.connFails.Store(0)
			e.eject(now)
		}
		return
	}
	e.connFails.Store(0)
	e.ejections.Store(0)

	rtt := int64(nowT.Sub(start))
	if rtt < 0 {
		rtt = 0
	}
	td := now - e.lastDone.Swap(now)
	if td < 0 {
		td = 0
	}
	old := e.ewma.Load()
	w := math.Exp(float64(-td) / float64(decayTime))
	if old == 0 {
		w = 0
	}
	e.ewma.Store(int64(float64(old)*w + float64(rtt)*(1-w)))
}

// eject starts a passive ejection unless one is running, doubling its length
// at each repeat.
func (e *Endpoint) eject(now int64) {
	until := e.ejectedUntil.Load()
	if until > now {
		return // concurrent failures of one outage eject once
	}
	n := e.ejections.Load()
	d := e.cfg.ejectFor
	for i := int32(0); i < n && d < e.cfg.maxEjectFor; i++ {
		d *= 2
	}
	d = min(d, e.cfg.maxEjectFor)
	if e.ejectedUntil.CompareAndSwap(until, now+d) {
		e.ejections.Add(1)
	}
}

func (e *Endpoint) eligible(now int64, exclude string) bool {
	return e.ejectedUntil.Load() <= now && (exclude == "" || e.ID != exclude)
}

func (e *Endpoint) pick(now int64) *Endpoint {
	e.inflight.Add(1)
	e.lastPick.Store(now)
	return e
}

// better reports whether a is a better choice than b: fewer requests in
// flight, then a latency lower by more than a fifth. Latencies closer than
// that are noise, and treating them as a tie lets the random order of the
// pair spread the load; otherwise the endpoint whose first sample happened
// to be lowest would win every tie for the first decayTime.
func better(a, b *Endpoint) bool {
	ai, bi := a.inflight.Load(), b.inflight.Load()
	if ai != bi {
		return ai < bi
	}
	return a.ewma.Load()*5 < b.ewma.Load()*4
}

// ConnectionFailure reports whether err means the endpoint could not be
// reached or dropped the connection: any dial error (refused, unreachable,
// dial timeout), or a connection reset or broken pipe.
func ConnectionFailure(err error) bool {
	if err == nil {
		return false
	}
	if isDialError(err) {
		return true
	}
	return errors.Is(err, errConnRefused) || errors.Is(err, errConnReset) || errors.Is(err, errBrokenPipe)
}

type endpoints struct{ list []*Endpoint }

// Balancer spreads requests over the endpoints of one service. It is safe
// for concurrent use.
type Balancer struct {
	cfg *config
	eps atomic.Pointer[endpoints]
	mu  sync.Mutex // serialises Update
}

// New returns a balancer with no endpoints; call Update to give it some.
func New(opts Options) *Balancer {
	cfg := &config{
		now:         opts.Now,
		ejectAfter:  int32(opts.EjectAfter),
		ejectFor:    int64(opts.EjectFor),
		maxEjectFor: int64(opts.MaxEjectFor),
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.ejectAfter <= 0 {
		cfg.ejectAfter = DefaultEjectAfter
	}
	if cfg.ejectFor <= 0 {
		cfg.ejectFor = int64(DefaultEjectFor)
	}
	if cfg.maxEjectFor <= 0 {
		cfg.maxEjectFor = int64(DefaultMaxEjectFor)
	}
	cfg.maxEjectFor = max(cfg.maxEjectFor, cfg.ejectFor)
	// Start the clock a day back, so that "never picked" (0) is long ago and
	// a new endpoint is force-picked soon.
	cfg.base = cfg.now().Add(-24 * time.Hour)
	b := &Balancer{cfg: cfg}
	b.eps.Store(&endpoints{})
	return b
}

// Update replaces the endpoints with one per instance, keeping the
// *Endpoint, and so the statistics, of each instance whose ID, address and
// start time are unchanged. An instance whose address or start time changed
// is a new process and starts afresh, without the ejection of the one it
// replaced. Instances with a repeated ID after the first are ignored.
// When the instances are those the balancer has, in the same order, Update
// only compares and returns.
func (b *Balancer) Update(instances []registry.Instance) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.eps.Load().list
	if same(cur, instances) {
		return
	}
	old := make(map[string]*Endpoint, len(cur))
	for _, e := range cur {
		old[e.ID] = e
	}
	seen := make(map[string]bool, len(instances))
	next := make([]*Endpoint, 0, len(instances))
	for _, in := range instances {
		if seen[in.ID] {
			continue
		}
		seen[in.ID] = true
		if e := old[in.ID]; e != nil && e.is(in) {
			next = append(next, e)
			continue
		}
		next = append(next, &Endpoint{ID: in.ID, Addr: in.Addr, started: in.Started, cfg: b.cfg})
	}
	b.eps.Store(&endpoints{list: next})
}

func same(cur []*Endpoint, instances []registry.Instance) bool {
	if len(cur) != len(instances) {
		return false
	}
	for i, e := range cur {
		if !e.is(instances[i]) {
			return false
		}
	}
	return true
}

// is reports whether e stands for the same process as in.
func (e *Endpoint) is(in registry.Instance) bool {
	return e.ID == in.ID && e.Addr == in.Addr && e.started.Equal(in.Started)
}

// Endpoints returns the current endpoints. The slice is shared: do not
// modify it.
func (b *Balancer) Endpoints() []*Endpoint { return b.eps.Load().list }

// Pick chooses an endpoint for one request and counts it in flight; the
// caller must call Done on it when the request ends. It chooses by P2C among
// the endpoints that are not ejected, leaving out the one whose ID is
// exclude (the instance a retry should avoid) when another is available. If
// the only endpoint not ejected is the excluded one, it is returned; if all
// are ejected, the one whose ejection ends first is. Pick returns
// ErrNoEndpoints when the balancer has no endpoint. It takes no lock and
// does not allocate.
func (b *Balancer) Pick(exclude string) (*Endpoint, error) {
	eps := b.eps.Load().list
	n := len(eps)
	if n == 0 {
		return nil, ErrNoEndpoints
	}
	now := b.cfg.nanos(b.cfg.now())
	if n == 1 {
		return eps[0].pick(now), nil
	}

	// Fast path: a random pair of eligible endpoints, as go-zero does.
	for range pickTimes {
		i := rand.IntN(n)
		j := rand.IntN(n - 1)
		if j >= i {
			j++
		}
		a, c := eps[i], eps[j]
		if a.eligible(now, exclude) && c.eligible(now, exclude) {
			return choose(a, c, now), nil
		}
	}

	// Slow path: count the eligible endpoints and draw two by rank.
	k := 0
	for _, e := range eps {
		if e.eligible(now, exclude) {
			k++
		}
	}
	switch k {
	case 0:
		return fallback(eps, now, exclude), nil
	case 1:
		for _, e := range eps {
			if e.eligible(now, exclude) {
				return e.pick(now), nil
			}
		}
	}
	ri := rand.IntN(k)
	rj := rand.IntN(k - 1)
	if rj >= ri {
		rj++
	}
	var a, c *Endpoint
	rank := 0
	for _, e := range eps {
		if !e.eligible(now, exclude) {
			continue
		}
		switch rank {
		case ri:
			a = e
		case rj:
			c = e
		}
		rank++
	}
	return choose(a, c, now), nil
}

// choose returns the better of a and c, or the other one if it has not been
// picked for forcePick, so that its statistics are refreshed.
func choose(a, c *Endpoint, now int64) *Endpoint {
	if better(c, a) {
		a, c = c, a
	}
	last := c.lastPick.Load()
	if now-last > forcePick && c.lastPick.CompareAndSwap(last, now) {
		c.inflight.Add(1)
		return c
	}
	return a.pick(now)
}

// fallback picks when no endpoint is eligible: the excluded one if it is not
// ejected, else the one whose ejection ends first.
func fallback(eps []*Endpoint, now int64, exclude string) *Endpoint {
	var best *Endpoint
	var bestUntil int64 = math.MaxInt64
	for _, e := range eps {
		until := e.ejectedUntil.Load()
		if until <= now { // not ejected, so it is the excluded one
			return e.pick(now)
		}
		if until < bestUntil {
			best, bestUntil = e, until
		}
	}
	return best.pick(now)
}
