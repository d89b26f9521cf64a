package workers

import (
	"sync"
	"testing"
	"time"
)

// Tasks run at once, past the number of workers too: a task never waits
// for another.
func TestTasksRunAtOnce(t *testing.T) {
	for _, p := range []*Pool{nil, New(0, time.Minute), New(2, time.Minute)} {
		const tasks = 5
		var started, done sync.WaitGroup
		started.Add(tasks)
		done.Add(tasks)
		release := make(chan struct{})
		for range tasks {
			p.Go(func() {
				defer done.Done()
				started.Done()
				<-release
			})
		}
		waitGroup(t, &started, "every task to start")
		close(release)
		waitGroup(t, &done, "every task to end")
		if p != nil && p.Workers() > int(p.max) {
			t.Errorf("%d workers, more than %d", p.Workers(), p.max)
		}
	}
}

// Tasks run one after another reuse the same few workers instead of a
// goroutine each, and idle workers end.
func TestWorkersAreReusedAndEndWhenIdle(t *testing.T) {
	p := New(64, 200*time.Millisecond)
	for range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		time.Sleep(time.Millisecond) // let the worker go idle
	}
	// One worker would do; a slow scheduler may have needed a few more.
	if n := p.Workers(); n < 1 || n > 10 {
		t.Errorf("100 tasks one after another used %d workers, want 1 to 10", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Workers() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running long after their last task", p.Workers())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And a task after that starts a worker again.
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	if p.Workers() != 1 {
		t.Errorf("%d workers after a task, want 1", p.Workers())
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
