package load

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock jumps to the time asked for.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

// collect runs an engine whose work records arrivals.
type collected struct {
	mu       sync.Mutex
	arrivals []Arrival
	at       []time.Time // when each was run, real clock
}

func (c *collected) do(a Arrival) {
	now := time.Now()
	c.mu.Lock()
	c.arrivals = append(c.arrivals, a)
	c.at = append(c.at, now)
	c.mu.Unlock()
}

func (c *collected) sorted() []Arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]Arrival(nil), c.arrivals...)
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func TestScheduleOnTime(t *testing.T) {
	tests := []struct {
		rate     float64
		duration time.Duration
		want     int
	}{
		{200, time.Second, 200},
		{3, 1500 * time.Millisecond, 5}, // due at 0, 1/3, 2/3, 1, 4/3 s
		{0.5, 10 * time.Second, 5},
		{1000, 10 * time.Millisecond, 10},
		{7, time.Second, 7},
	}
	for _, tt := range tests {
		clock := &fakeClock{now: time.Unix(1000, 0)}
		start := clock.Now()
		var c collected
		eng := NewEngine(Schedule{Rate: tt.rate, Duration: tt.duration, Clock: clock}, c.do, nil)
		got := eng.Run(context.Background(), start)
		if !eng.Wait(5 * time.Second) {
			t.Fatal("arrivals still running")
		}
		if got != int64(tt.want) || len(c.sorted()) != tt.want {
			t.Errorf("rate %v for %v: got %d arrivals (%d run), want %d", tt.rate, tt.duration, got, len(c.sorted()), tt.want)
			continue
		}
		for i, a := range c.sorted() {
			want := start.Add(time.Duration(float64(i) * float64(time.Second) / tt.rate))
			if a.Seq != int64(i) || !a.Intended.Equal(want) {
				t.Errorf("rate %v: arrival %d: got seq %d at %v, want %v", tt.rate, i, a.Seq, a.Intended.Sub(start), want.Sub(start))
				break
			}
		}
	}
}

// TestScheduleRealClock checks pacing against the wall clock: 200±2
// arrivals in a second, half of them in the first half, none early, few
// late. Dispatch times are taken on the scheduler goroutine (Pick), so a
// busy machine delaying the workers does not blur them.
func TestScheduleRealClock(t *testing.T) {
	var dispatched []time.Time
	pick := func() int { dispatched = append(dispatched, time.Now()); return 0 }
	var c collected
	eng := NewEngine(Schedule{Rate: 200, Duration: time.Second, Pick: pick}, c.do, nil)
	start := time.Now()
	n := eng.Run(context.Background(), start)
	took := time.Since(start)
	eng.Wait(5 * time.Second)
	if n < 198 || n > 202 || len(c.sorted()) != int(n) {
		t.Errorf("got %d arrivals (%d run) in 1s at 200/s, want 200±2", n, len(c.sorted()))
	}
	if took < 990*time.Millisecond {
		t.Errorf("the schedule ended after %v, want about 995ms: arrivals were not paced", took)
	}
	firstHalf := 0
	var lateSum time.Duration
	for i, at := range dispatched {
		if at.Sub(start) < 500*time.Millisecond {
			firstHalf++
		}
		intended := start.Add(time.Duration(i) * 5 * time.Millisecond)
		late := at.Sub(intended)
		if late < 0 {
			t.Fatalf("arrival %d dispatched %v before its time", i, -late)
		}
		lateSum += late
	}
	if firstHalf < 97 || firstHalf > 103 {
		t.Errorf("%d arrivals dispatched in the first 500ms, want 100±3", firstHalf)
	}
	if mean := lateSum / time.Duration(len(dispatched)); mean > 10*time.Millisecond {
		t.Errorf("arrivals dispatched %v after their time on average, want under 10ms", mean)
	}
}

func TestDropBeyondInflightCap(t *testing.T) {
	release := make(chan struct{})
	var ran atomic.Int64
	var dropped []Arrival
	clock := &fakeClock{now: time.Unix(1000, 0)}
	eng := NewEngine(Schedule{Rate: 100, Duration: 200 * time.Millisecond, MaxInflight: 5, Clock: clock},
		func(Arrival) { ran.Add(1); <-release },
		func(a Arrival) { dropped = append(dropped, a) })
	n := eng.Run(context.Background(), clock.Now())
	close(release)
	if !eng.Wait(5 * time.Second) {
		t.Fatal("arrivals still running")
	}
	if n != 20 || ran.Load() != 5 || len(dropped) != 15 || eng.Dropped() != 15 || eng.Sent() != 5 {
		t.Errorf("got %d arrivals, %d ran, %d dropped (engine: %d sent, %d dropped); want 20, 5, 15", n, ran.Load(), len(dropped), eng.Sent(), eng.Dropped())
	}
	if len(dropped) > 0 && dropped[0].Seq != 5 {
		t.Errorf("first drop is arrival %d, want 5", dropped[0].Seq)
	}
}

func TestStopOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var c collected
	eng := NewEngine(Schedule{Rate: 100, Duration: time.Minute}, c.do, nil)
	time.AfterFunc(200*time.Millisecond, cancel)
	began := time.Now()
	n := eng.Run(ctx, began)
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Run returned %v after the start, want soon after the cancel at 200ms", took)
	}
	if n < 15 || n > 25 {
		t.Errorf("got %d arrivals before the cancel at 200ms, want about 20", n)
	}
}

func TestWorkersReused(t *testing.T) {
	// 500 arrivals 2 ms apart, each done at once: without reuse they take
	// 500 goroutines; with it a few, or more on a very busy machine.
	eng := NewEngine(Schedule{Rate: 500, Duration: time.Second}, func(Arrival) {}, nil)
	eng.Run(context.Background(), time.Now())
	eng.Wait(5 * time.Second)
	if w := eng.Workers(); w > 100 {
		t.Errorf("%d workers for 500 arrivals at most a few in flight: goroutines are not reused", w)
	}
}
