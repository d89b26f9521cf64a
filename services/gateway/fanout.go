package gateway

import (
	"context"
	"sync/atomic"
)

// fanOut runs the parts of a composed page (the product page's calls to
// catalog, inventory and recommendation) at once. A part runs on an idle
// worker goroutine when there is one and on a new goroutine when there is
// none, so it never waits for a worker.
//
// Workers outlive the parts they run, and that is the point: a new
// goroutine starts with a small stack and grows it by copying as soon as
// it makes a call, once per part, which profiling the product page showed
// to cost a tenth of the gateway's CPU (runtime.newstack and
// runtime.newproc). A worker grows its stack once.
//
// A nil or zero fanOut has no workers and starts a goroutine per part.
type fanOut struct {
	ctx     context.Context // workers stop when it is done
	work    chan func()     // unbuffered: a send succeeds only to an idle worker
	workers atomic.Int32
	max     int32
}

// newFanOut returns a fanOut that keeps up to max workers until ctx is
// done.
func newFanOut(ctx context.Context, max int) *fanOut {
	return &fanOut{ctx: ctx, work: make(chan func()), max: int32(max)}
}

// run runs f on another goroutine.
func (p *fanOut) run(f func()) {
	if p == nil {
		go f()
		return
	}
	select {
	case p.work <- f:
		return
	default:
	}
	if p.workers.Add(1) <= p.max {
		go p.worker(f)
		return
	}
	p.workers.Add(-1)
	go f()
}

func (p *fanOut) worker(f func()) {
	defer p.workers.Add(-1)
	for {
		f()
		select {
		case f = <-p.work:
		case <-p.ctx.Done():
			return
		}
	}
}
