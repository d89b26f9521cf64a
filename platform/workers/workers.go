// Package workers runs short tasks on goroutines that outlive them.
//
// A new goroutine starts with a small stack and grows it by copying as
// soon as a task makes a call of any depth (an RPC, a SQL statement, JSON
// decoding): once per task when every task gets a goroutine of its own.
// Profiles showed this to cost a tenth of the gateway's CPU on the product
// page (three calls per page, each on a new goroutine) and a few per cent
// of the order service's on checkout (a goroutine per saga). A worker grows
// its stack once and keeps it.
package workers

import (
	"sync/atomic"
	"time"
)

// Pool runs tasks on idle workers, and on a new goroutine when none is idle,
// so a task never waits for a worker. It keeps up to max workers; one idle
// for longer than the idle time ends. A nil Pool runs each task on a new
// goroutine.
type Pool struct {
	work    chan func() // unbuffered: a send succeeds only to an idle worker
	workers atomic.Int32
	max     int32
	idle    time.Duration
}

// New returns a Pool of up to max workers, each ending after idle time
// without a task.
func New(max int, idle time.Duration) *Pool {
	return &Pool{work: make(chan func()), max: int32(max), idle: idle}
}

// Go runs f on another goroutine.
func (p *Pool) Go(f func()) {
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

// Workers returns the number of workers, busy or idle.
func (p *Pool) Workers() int { return int(p.workers.Load()) }

func (p *Pool) worker(f func()) {
	defer p.workers.Add(-1)
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(p.idle)
		select {
		case f = <-p.work:
		case <-idle.C:
			return
		}
	}
}
