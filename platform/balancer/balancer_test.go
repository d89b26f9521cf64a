package balancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/souk/souk/platform/registry"
)

// clock is a fake clock safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func instances(ids ...string) []registry.Instance {
	out := make([]registry.Instance, len(ids))
	for i, id := range ids {
		out[i] = registry.Instance{ID: id, Service: "svc", Addr: "127.0.0.1:" + fmt.Sprint(9000+i)}
	}
	return out
}

var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

func TestConnectionFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"refused", errRefused, true},
		{"wrapped refused", fmt.Errorf("post: %w", errRefused), true},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"reset while reading", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"dial cancelled by the caller", &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("op: %w", context.Canceled)}, false},
		{"eof", io.ErrUnexpectedEOF, false},
		{"status", errors.New("503"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ConnectionFailure(tt.err); got != tt.want {
				t.Errorf("ConnectionFailure(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestPickNoEndpoints(t *testing.T) {
	b := New(Options{})
	if _, err := b.Pick(""); !errors.Is(err, ErrNoEndpoints) {
		t.Fatalf("Pick on empty balancer: err = %v, want ErrNoEndpoints", err)
	}
	b.Update(instances("a"))
	b.Update(nil)
	if _, err := b.Pick(""); !errors.Is(err, ErrNoEndpoints) {
		t.Fatalf("Pick after Update(nil): err = %v, want ErrNoEndpoints", err)
	}
}

func TestInflight(t *testing.T) {
	clk := newClock()
	b := New(Options{Now: clk.Now})
	b.Update(instances("a"))
	e1, _ := b.Pick("")
	e2, _ := b.Pick("")
	if got, want := e1.Inflight(), int64(2); got != want {
		t.Fatalf("Inflight after 2 picks = %d, want %d", got, want)
	}
	e1.Done(clk.Now(), nil)
	e2.Done(clk.Now(), nil)
	if got, want := e1.Inflight(), int64(0); got != want {
		t.Fatalf("Inflight after 2 dones = %d, want %d", got, want)
	}
}

// Requests in flight decide before latency: calls that never end spread
// evenly, and a fast endpoint with more in flight loses to a slow idle one.
func TestLeastOutstanding(t *testing.T) {
	clk := newClock()
	b := New(Options{Now: clk.Now})
	b.Update(instances("a", "b"))
	for range 100 {
		if _, err := b.Pick(""); err != nil {
			t.Fatal(err)
		}
	}
	a, c := b.Endpoints()[0], b.Endpoints()[1]
	if d := a.Inflight() - c.Inflight(); d < -2 || d > 2 {
		t.Fatalf("in flight a = %d, b = %d, want within 2 of each other", a.Inflight(), c.Inflight())
	}
	for range 50 {
		a.Done(clk.Now(), nil)
		c.Done(clk.Now(), nil)
	}

	a.ewma.Store(int64(time.Millisecond))
	c.ewma.Store(int64(10 * time.Millisecond))
	now := b.cfg.nanos(clk.Now())
	held := []*Endpoint{a.pick(now), a.pick(now)}
	for range 20 {
		e, _ := b.Pick("")
		if e != c {
			t.Fatalf("picked %s with 2 in flight over idle b", e.ID)
		}
		e.Done(clk.Now(), nil)
		c.ewma.Store(int64(10 * time.Millisecond))
	}
	for _, e := range held {
		e.Done(clk.Now(), nil)
	}
}

// With calls in flight at once, the slow endpoint keeps more of them and
// loses the comparison: the fast one must get most picks.
func TestFastEndpointGetsMostPicksUnderLoad(t *testing.T) {
	b := New(Options{})
	b.Update(instances("fast", "slow"))
	latency := map[string]time.Duration{"fast": time.Millisecond, "slow": 20 * time.Millisecond}
	var mu sync.Mutex
	picks := map[string]int{}
	deadline := time.Now().Add(400 * time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				start := time.Now()
				e, err := b.Pick("")
				if err != nil {
					t.Error(err)
					return
				}
				time.Sleep(latency[e.ID])
				e.Done(start, nil)
				mu.Lock()
				picks[e.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if picks["fast"] < 4*picks["slow"] {
		t.Fatalf("picks = %v, want fast ≥ 4× slow", picks)
	}
	eps := b.Endpoints()
	if eps[0].Latency() >= eps[1].Latency() {
		t.Errorf("latency EWMA fast = %v, slow = %v, want fast < slow", eps[0].Latency(), eps[1].Latency())
	}
}

// With one call at a time nothing is in flight, so latency decides; the slow
// endpoint is still force-picked about once per second to refresh its EWMA.
func TestSequentialCallsPreferLowLatency(t *testing.T) {
	clk := newClock()
	b := New(Options{Now: clk.Now})
	b.Update(instances("fast", "slow"))
	latency := map[string]time.Duration{"fast": time.Millisecond, "slow": 10 * time.Millisecond}
	picks := map[string]int{}
	for range 2000 { // about 2s of fake time
		start := clk.Now()
		e, _ := b.Pick("")
		clk.Advance(latency[e.ID])
		e.Done(start, nil)
		picks[e.ID]++
	}
	if picks["slow"] > 10 {
		t.Fatalf("picks = %v, want slow ≤ 10 (forced picks only)", picks)
	}
	if picks["slow"] < 2 {
		t.Fatalf("picks = %v, want slow force-picked at least twice in 2s", picks)
	}
}

// Equal endpoints get equal shares: a chi-square test with 4 degrees of
// freedom, bound 40 (p ≈ 1e-7), so the test does not flake.
func TestEqualEndpointsSpreadEvenly(t *testing.T) {
	clk := newClock()
	b := New(Options{Now: clk.Now})
	ids := []string{"a", "b", "c", "d", "e"}
	b.Update(instances(ids...))
	const n = 100_000
	picks := map[string]int{}
	for range n {
		e, _ := b.Pick("")
		e.Done(clk.Now(), nil)
		picks[e.ID]++
	}
	expected := float64(n) / float64(len(ids))
	var chi2 float64
	for _, id := range ids {
		d := float64(picks[id]) - expected
		chi2 += d * d / expected
	}
	if chi2 > 40 {
		t.Fatalf("picks = %v, chi² = %.1f, want ≤ 40", picks, chi2)
	}
}

func TestEqualEndpointsSpreadUnderConcurrency(t *testing.T) {
	b := New(Options{})
	ids := []string{"a", "b", "c"}
	b.Update(instances(ids...))
	var counts [3]atomic.Int64
	index := map[string]int{"a": 0, "b": 1, "c": 2}
	deadline := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				start := time.Now()
				e, _ := b.Pick("")
				time.Sleep(time.Millisecond)
				counts[index[e.ID]].Add(1)
				e.Done(start, nil)
			}
		})
	}
	wg.Wait()
	var total int64
	for i := range counts {
		total += counts[i].Load()
	}
	for i, id := range ids {
		// Each should get a third; sleep jitter moves ties, so the bound is
		// loose: at least a sixth.
		if got := counts[i].Load(); got*6 < total {
			t.Errorf("%s got %d of %d picks, want ≥ a sixth", id, got, total)
		}
	}
}

func TestEjection(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		failures   int             // consecutive connection failures on "a"
		wantEject  bool            // ejected after them
		wantPeriod time.Duration   // how long, when ejected
		repeat     []time.Duration // the periods of the ejections that follow
	}{
		{"one refusal ejects by default", Options{}, 1, true, 2 * time.Second, []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}},
		{"below EjectAfter", Options{EjectAfter: 3}, 2, false, 0, nil},
		{"at EjectAfter", Options{EjectAfter: 3, EjectFor: time.Second, MaxEjectFor: 3 * time.Second}, 3, true, time.Second, []time.Duration{2 * time.Second, 3 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			tt.opts.Now = clk.Now
			b := New(tt.opts)
			b.Update(instances("a", "b"))
			a := b.Endpoints()[0]
			fail := func(n int) {
				for range n {
					a.inflight.Add(1) // as if picked
					a.Done(clk.Now(), errRefused)
				}
			}
			fail(tt.failures)
			if got := a.Ejected(); got != tt.wantEject {
				t.Fatalf("Ejected() = %v, want %v", got, tt.wantEject)
			}
			if !tt.wantEject {
				return
			}
			periods := append([]time.Duration{tt.wantPeriod}, tt.repeat...)
			for i, want := range periods {
				if i > 0 {
					fail(max(tt.opts.EjectAfter, 1))
				}
				if got := a.EjectedUntil().Sub(clk.Now()); got != want {
					t.Fatalf("ejection %d lasts %v, want %v", i+1, got, want)
				}
				for range 100 {
					e, _ := b.Pick("")
					if e.ID == "a" {
						t.Fatalf("ejection %d: picked the ejected endpoint", i+1)
					}
					e.Done(clk.Now(), nil)
				}
				clk.Advance(want - time.Millisecond)
				if !a.Ejected() {
					t.Fatalf("ejection %d ended early", i+1)
				}
				clk.Advance(time.Millisecond)
				if a.Ejected() {
					t.Fatalf("ejection %d did not end after %v", i+1, want)
				}
			}
			// An answer resets the doubling.
			a.inflight.Add(1)
			a.Done(clk.Now(), nil)
			fail(max(tt.opts.EjectAfter, 1))
			if got := a.EjectedUntil().Sub(clk.Now()); got != tt.wantPeriod {
				t.Fatalf("ejection after an answer lasts %v, want %v", got, tt.wantPeriod)
			}
		})
	}
}

func TestEjectedEndpointComesBackWhenItsTimePasses(t *testing.T) {
	clk := newClock()
	b := New(Options{Now: clk.Now})
	b.Update(instances("a", "b", "c"))
	a := b.Endpoints()[0]
	a.Eject(5 * time.Second)
	for range 300 {
		e, _ := b.Pick("")
		if e.ID == "a" {
			t.Fatal("picked ejected endpoint a")
		}
		e.Done(clk.Now(), nil)
		clk.Advance(10 * time.Millisecond) // 3s in all
	}
	clk.Advance(2 * time.Second)
	got := 0
	for range 300 {
		e, _ := b.Pick("")
		if e.ID == "a" {
			got++
		}
		e.Done(clk.Now(), nil)
	}
	if got == 0 {
		t.Fatal("a never picked after its ejection ended")
	}
	a.Eject(time.Minute)
	a.Eject(0)
	if a.Ejected() {
		t.Fatal("Eject(0) did not put a back")
	}
}

func TestAllEjectedPicksEarliestEnd(t *testing.T) {
	clk := newClock()
	b := New(Options{Now: clk.Now})
	b.Update(instances("a", "b", "c"))
	eps := b.Endpoints()
	eps[0].Eject(3 * time.Second)
	eps[1].Eject(1 * time.Second)
	eps[2].Eject(2 * time.Second)
	for _, exclude := range []string{"", "a", "b"} {
		e, err := b.Pick(exclude)
		if err != nil {
			t.Fatalf("Pick(%q): %v", exclude, err)
		}
		if got, want := e.ID, "b"; got != want {
			t.Errorf("Pick(%q) with all ejected = %s, want %s (ejection ends first)", exclude, got, want)
		}
		e.Done(clk.Now(), nil)
	}
}

func TestPickExclude(t *testing.T) {
	tests := []struct {
		name    string
		ids     []string
		ejected []string
		exclude string
		want    map[string]bool // the IDs Pick may return
	}{
		{"three, exclude one", []string{"a", "b", "c"}, nil, "a", map[string]bool{"b": true, "c": true}},
		{"two, exclude one", []string{"a", "b"}, nil, "b", map[string]bool{"a": true}},
		{"five, exclude one, two ejected", []string{"a", "b", "c", "d", "e"}, []string{"b", "c"}, "a", map[string]bool{"d": true, "e": true}},
		{"excluded is the only healthy", []string{"a", "b"}, []string{"b"}, "a", map[string]bool{"a": true}},
		{"single endpoint", []string{"a"}, nil, "a", map[string]bool{"a": true}},
		{"unknown exclude", []string{"a", "b"}, nil, "zz", map[string]bool{"a": true, "b": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			b := New(Options{Now: clk.Now})
			b.Update(instances(tt.ids...))
			for _, e := range b.Endpoints() {
				for _, id := range tt.ejected {
					if e.ID == id {
						e.Eject(time.Minute)
					}
				}
			}
			seen := map[string]bool{}
			for range 1000 {
				e, err := b.Pick(tt.exclude)
				if err != nil {
					t.Fatal(err)
				}
				if !tt.want[e.ID] {
					t.Fatalf("Pick(%q) = %s, want one of %v", tt.exclude, e.ID, tt.want)
				}
				seen[e.ID] = true
				e.Done(clk.Now(), nil)
			}
			if len(seen) != len(tt.want) {
				t.Errorf("picked %v, want all of %v", seen, tt.want)
			}
		})
	}
}

func TestUpdateKeepsStats(t *testing.T) {
	clk := newClock()
	b := New(Options{Now: clk.Now})
	b.Update(instances("a", "b"))
	before := b.Endpoints()
	for range 10 {
		start := clk.Now()
		e, _ := b.Pick("")
		clk.Advance(5 * time.Millisecond)
		e.Done(start, nil)
	}
	held, _ := b.Pick("") // one left in flight
	latA, latB := before[0].Latency(), before[1].Latency()
	if latA == 0 && latB == 0 {
		t.Fatal("no latency recorded")
	}

	// Same instances again: nothing changes and nothing is allocated.
	same := instances("a", "b")
	if allocs := testing.AllocsPerRun(100, func() { b.Update(same) }); allocs != 0 {
		t.Errorf("Update with unchanged instances allocates %v times, want 0", allocs)
	}

	// A new instance: a and b keep their endpoints and statistics.
	b.Update(instances("a", "b", "c"))
	after := b.Endpoints()
	if len(after) != 3 || after[0] != before[0] || after[1] != before[1] {
		t.Fatalf("Update dropped the endpoints of unchanged instances: %v", after)
	}
	if after[0].Latency() != latA || after[1].Latency() != latB {
		t.Errorf("latency after Update = %v, %v, want %v, %v", after[0].Latency(), after[1].Latency(), latA, latB)
	}
	if got, want := held.Inflight(), int64(1); got != want {
		t.Errorf("Inflight of held endpoint after Update = %d, want %d", got, want)
	}
	held.Done(clk.Now(), nil)

	// b moves to a new address: it is a new process, with fresh statistics.
	moved := instances("a", "b", "c")
	moved[1].Addr = "127.0.0.1:1"
	b.Update(moved)
	after = b.Endpoints()
	if after[1] == before[1] || after[1].Latency() != 0 || after[1].Addr != "127.0.0.1:1" {
		t.Errorf("endpoint with a changed address kept its stats: %+v", after[1])
	}
	if after[0] != before[0] {
		t.Error("endpoint a replaced")
	}

	// c restarts at the same address: a new process, without its ejection.
	after[2].Eject(time.Minute)
	restarted := moved
	restarted[2].Started = restarted[2].Started.Add(time.Second)
	b.Update(restarted)
	if got := b.Endpoints()[2]; got == after[2] || got.Ejected() {
		t.Errorf("a restarted instance kept its endpoint or ejection: %+v", got)
	}

	// Duplicated IDs are dropped after the first.
	b.Update(append(instances("a"), instances("a")...))
	if got := len(b.Endpoints()); got != 1 {
		t.Errorf("endpoints after duplicate IDs = %d, want 1", got)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	b := New(Options{})
	b.Update(instances("a", "b", "c", "d"))
	b.Endpoints()[1].Eject(time.Hour) // exercise the slow path now and then
	allocs := testing.AllocsPerRun(1000, func() {
		e, err := b.Pick("c")
		if err != nil {
			t.Fatal(err)
		}
		e.Done(time.Now(), nil)
	})
	if allocs != 0 {
		t.Fatalf("Pick+Done allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkPick(b *testing.B) {
	for _, n := range []int{2, 10, 100} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			bal := New(Options{})
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("svc-%d", i)
			}
			bal.Update(instances(ids...))
			start := time.Now()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e, _ := bal.Pick("")
					e.Done(start, nil)
				}
			})
		})
	}
}

func BenchmarkPickSerial(b *testing.B) {
	bal := New(Options{})
	bal.Update(instances("a", "b", "c", "d", "e"))
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		e, _ := bal.Pick("")
		e.Done(start, nil)
	}
}
