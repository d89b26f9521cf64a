package gateway

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Parts run at once, past the number of workers too: a part never waits
// for another.
func TestFanOutRunsPartsAtOnce(t *testing.T) {
	for _, p := range []*fanOut{nil, {}, newFanOut(t.Context(), 2)} {
		const parts = 5
		var started, release sync.WaitGroup
		started.Add(parts)
		release.Add(1)
		var done sync.WaitGroup
		done.Add(parts)
		for range parts {
			p.run(func() {
				defer done.Done()
				started.Done()
				release.Wait()
			})
		}
		waitGroup(t, &started, "every part to start")
		release.Done()
		waitGroup(t, &done, "every part to end")
		if p != nil && p.workers.Load() > p.max {
			t.Errorf("%d workers, more than %d", p.workers.Load(), p.max)
		}
	}
}

// Parts run one after another reuse the same few workers instead of a
// goroutine each, and the workers end with the context.
func TestFanOutReusesWorkers(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p := newFanOut(ctx, 64)
	for range 100 {
		done := make(chan struct{})
		p.run(func() { close(done) })
		<-done
		time.Sleep(time.Millisecond) // let the worker go idle
	}
	// One worker would do; a slow scheduler may have needed a few more.
	if n := p.workers.Load(); n < 1 || n > 10 {
		t.Errorf("100 parts one after another used %d workers, want 1 to 10", n)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for p.workers.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running after the context ended", p.workers.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
