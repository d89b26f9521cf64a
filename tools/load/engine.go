package load

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the scheduler's time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// SleepUntil returns at t or later, or with ctx's error when ctx is
	// done first.
	SleepUntil(ctx context.Context, t time.Time) error
}

// realClock sleeps on one reusable timer; it belongs to one goroutine.
type realClock struct{ timer *time.Timer }

// NewRealClock returns the wall clock (monotonic readings); one per
// scheduler, since it reuses a timer.
func NewRealClock() Clock { return &realClock{} }

func (c *realClock) Now() time.Time { return time.Now() }

func (c *realClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.timer.C:
		return nil
	case <-ctx.Done():
		c.timer.Stop()
		return ctx.Err()
	}
}

// Arrival is one scheduled journey.
type Arrival struct {
	Seq      int64     // 0, 1, 2, ... in schedule order
	Intended time.Time // start + Seq/rate: latency is measured from here
	Journey  int       // index into Journeys
}

// Schedule is what the engine runs.
type Schedule struct {
	Rate        float64       // arrivals per second, > 0
	Duration    time.Duration // arrivals are due in [start, start+Duration)
	MaxInflight int           // arrivals beyond this many in flight are dropped
	Clock       Clock         // nil: the real clock
	// Pick chooses the journey of each arrival; called from the scheduler
	// goroutine only. Nil picks journey 0.
	Pick func() int
}

// Engine is the open-loop scheduler and its worker pool. Do runs an
// arrival on a worker goroutine; Drop is told, on the scheduler goroutine,
// of an arrival refused because MaxInflight requests were in flight.
type Engine struct {
	s    Schedule
	do   func(Arrival)
	drop func(Arrival)

	work     chan Arrival
	wg       sync.WaitGroup
	inflight atomic.Int64
	sent     atomic.Int64
	dropped  atomic.Int64
	workers  atomic.Int64
}

// NewEngine returns an engine for s; do and drop must be safe for
// concurrent use (drop is called from one goroutine, do from many).
func NewEngine(s Schedule, do, drop func(Arrival)) *Engine {
	if s.Clock == nil {
		s.Clock = NewRealClock()
	}
	if s.MaxInflight <= 0 {
		s.MaxInflight = 20000
	}
	return &Engine{s: s, do: do, drop: drop, work: make(chan Arrival)}
}

// Run dispatches every arrival due in [start, start+Duration) at its time
// and returns when the schedule is over or ctx is done, without waiting for
// the requests in flight (see Wait). It returns the number of arrivals
// scheduled (sent or dropped). Call it once.
func (e *Engine) Run(ctx context.Context, start time.Time) int64 {
	defer close(e.work)
	// Arrival i is due at i/rate < Duration: ceil(rate*Duration) of them,
	// with a tolerance for float error when the product is whole.
	n := int64(math.Ceil(e.s.Rate*e.s.Duration.Seconds() - 1e-9))
	interval := 1e9 / e.s.Rate
	var i int64
	for ; i < n; i++ {
		intended := start.Add(time.Duration(float64(i) * interval))
		if e.s.Clock.Now().Before(intended) {
			if e.s.Clock.SleepUntil(ctx, intended) != nil {
				break
			}
		} else if ctx.Err() != nil {
			break
		}
		a := Arrival{Seq: i, Intended: intended}
		if e.s.Pick != nil {
			a.Journey = e.s.Pick()
		}
		if e.inflight.Load() >= int64(e.s.MaxInflight) {
			e.dropped.Add(1)
			if e.drop != nil {
				e.drop(a)
			}
			continue
		}
		e.inflight.Add(1)
		e.wg.Add(1)
		e.sent.Add(1)
		select {
		case e.work <- a:
		default:
			e.workers.Add(1)
			go e.worker(a)
		}
	}
	return i
}

// worker runs arrivals until the schedule is over; reusing goroutines keeps
// their grown stacks.
func (e *Engine) worker(a Arrival) {
	for {
		e.do(a)
		e.inflight.Add(-1)
		e.wg.Done()
		var ok bool
		if a, ok = <-e.work; !ok {
			return
		}
	}
}

// Wait waits until no request is in flight, or timeout; it reports whether
// everything finished.
func (e *Engine) Wait(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// Sent is the number of arrivals dispatched so far.
func (e *Engine) Sent() int64 { return e.sent.Load() }

// Dropped is the number of arrivals refused for MaxInflight.
func (e *Engine) Dropped() int64 { return e.dropped.Load() }

// Inflight is the number of arrivals being run.
func (e *Engine) Inflight() int64 { return e.inflight.Load() }

// Workers is the number of worker goroutines started.
func (e *Engine) Workers() int64 { return e.workers.Load() }
