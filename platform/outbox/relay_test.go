package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/telemetry"
)

// memSource is a Source in memory: records with seqs 1..n, published or not.
type memSource struct {
	mu        sync.Mutex
	recs      []outbox.Record
	published map[int64]bool
	pending   []int     // the limit of each Pending call
	marked    [][]int64 // each MarkPublished call
	markErr   error     // returned (once) by the next MarkPublished
	// afterRead, when set, runs once after Pending has read its records
	// and before it returns them: a slow query.
	afterRead func()
	// beforeMark, when set, runs at the start of every MarkPublished,
	// outside the lock: a write lock held by someone else.
	beforeMark func()
	// ordered makes it an ordered source (outbox.OrderedSource).
	ordered bool
	after   []int64 // the after of each PendingAfter call
}

func newMemSource(n int) *memSource {
	s := &memSource{published: map[int64]bool{}}
	s.add(n)
	return s
}

// add appends n records in one step, as one transaction commits them: a
// poll sees all of them or none.
func (s *memSource) add(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		seq := int64(len(s.recs) + 1)
		s.recs = append(s.recs, outbox.Record{Seq: seq, Event: events.Event{
			ID: "ev-" + strconv.FormatInt(seq, 10), Type: "THING_DONE", Source: "shop", Key: "k", Data: json.RawMessage(`{}`),
		}})
	}
}

func (s *memSource) Ordered() bool { return s.ordered }

func (s *memSource) PendingAfter(ctx context.Context, after int64, limit int) ([]outbox.Record, error) {
	s.mu.Lock()
	s.after = append(s.after, after)
	s.mu.Unlock()
	return s.pending1(after, limit)
}

func (s *memSource) Pending(ctx context.Context, limit int) ([]outbox.Record, error) {
	return s.pending1(0, limit)
}

func (s *memSource) pending1(after int64, limit int) ([]outbox.Record, error) {
	s.mu.Lock()
	s.pending = append(s.pending, limit)
	var out []outbox.Record
	for _, r := range s.recs {
		if !s.published[r.Seq] && r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	hook := s.afterRead
	s.afterRead = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return out, nil
}

func (s *memSource) MarkPublished(ctx context.Context, seqs []int64) error {
	s.mu.Lock()
	hook := s.beforeMark
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.markErr; err != nil {
		s.markErr = nil
		return err
	}
	s.marked = append(s.marked, slices.Clone(seqs))
	for _, q := range seqs {
		s.published[q] = true
	}
	return nil
}

func (s *memSource) unpublished() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs) - len(s.published)
}

// memPublisher records every batch; fail makes the next calls fail.
type memPublisher struct {
	mu      sync.Mutex
	batches [][]string // event ids of each successful batch
	calls   []time.Time
	fail    int // the next fail calls return an error
}

func (p *memPublisher) PublishBatch(ctx context.Context, evs []events.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, time.Now())
	if p.fail > 0 {
		p.fail--
		return errors.New("broker down")
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	p.batches = append(p.batches, ids)
	return nil
}

func (p *memPublisher) snapshot() (batches [][]string, calls []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.batches), slices.Clone(p.calls)
}

func ids(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, "ev-"+strconv.Itoa(i))
	}
	return out
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runRelay runs r until the test ends and checks that Run returns nil.
func runRelay(t testing.TB, r *outbox.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil when its context ends", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return within 5s of its context ending")
		}
	})
}

func TestFlushBatchBoundaries(t *testing.T) {
	src := newMemSource(7)
	pub := &memPublisher{}
	r := outbox.NewRelay(src, pub, outbox.Options{Batch: 3})
	var sizes []int
	for {
		n, err := r.Flush(context.Background())
		if err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if n == 0 {
			break
		}
		sizes = append(sizes, n)
	}
	if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
	batches, _ := pub.snapshot()
	if diff := cmp.Diff([][]string{ids(1, 3), ids(4, 6), ids(7, 7)}, batches); diff != "" {
		t.Errorf("published batches (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]int64{{1, 2, 3}, {4, 5, 6}, {7}}, src.marked); diff != "" {
		t.Errorf("marked (-want +got):\n%s", diff)
	}
	for i, limit := range src.pending {
		if limit != 3 {
			t.Errorf("Pending call %d asked for %d, want the batch size 3", i, limit)
		}
	}
}

// A full batch means more may be waiting: Run goes on at once rather than
// waiting for the next tick.
func TestRunDrainsFullBatchesWithoutWaiting(t *testing.T) {
	src := newMemSource(7)
	pub := &memPublisher{}
	runRelay(t, outbox.NewRelay(src, pub, outbox.Options{Batch: 3, Interval: 10 * time.Second}))
	waitFor(t, "all 7 events", 2*time.Second, func() bool { return src.unpublished() == 0 })
	batches, _ := pub.snapshot()
	if diff := cmp.Diff([][]string{ids(1, 3), ids(4, 6), ids(7, 7)}, batches); diff != "" {
		t.Errorf("published batches (-want +got):\n%s", diff)
	}
}

func TestFlushDoesNotMarkWhatFailedToPublish(t *testing.T) {
	src := newMemSource(2)
	pub := &memPublisher{fail: 1}
	r := outbox.NewRelay(src, pub, outbox.Options{})
	if n, err := r.Flush(context.Background()); err == nil || n != 0 {
		t.Fatalf("Flush with the broker down = %d, %v; want 0 and an error", n, err)
	}
	if len(src.marked) != 0 {
		t.Fatalf("marked %v after a failed publish, want nothing", src.marked)
	}
	if n, err := r.Flush(context.Background()); err != nil || n != 2 {
		t.Fatalf("second Flush = %d, %v; want 2, nil", n, err)
	}
	batches, _ := pub.snapshot()
	if diff := cmp.Diff([][]string{ids(1, 2)}, batches); diff != "" {
		t.Errorf("published batches (-want +got):\n%s", diff)
	}
}

func TestFlushReportsMarkFailure(t *testing.T) {
	src := newMemSource(2)
	src.markErr = errors.New("database gone")
	pub := &memPublisher{}
	r := outbox.NewRelay(src, pub, outbox.Options{})
	if n, err := r.Flush(context.Background()); err == nil || n != 0 {
		t.Fatalf("Flush with MarkPublished failing = %d, %v; want 0 and an error", n, err)
	}
	if n, err := r.Flush(context.Background()); err != nil || n != 2 {
		t.Fatalf("second Flush = %d, %v; want 2, nil", n, err)
	}
	// Published twice: at least once, never skipped.
	batches, _ := pub.snapshot()
	if diff := cmp.Diff([][]string{ids(1, 2), ids(1, 2)}, batches); diff != "" {
		t.Errorf("published batches (-want +got):\n%s", diff)
	}
}

// A failing broker is retried with a growing delay, starting at the poll
// interval, and the same batch goes out once it recovers.
func TestRunRetriesWithBackoff(t *testing.T) {
	src := newMemSource(3)
	pub := &memPublisher{fail: 4}
	runRelay(t, outbox.NewRelay(src, pub, outbox.Options{Interval: 20 * time.Millisecond}))
	waitFor(t, "the events after 4 failures", 5*time.Second, func() bool { return src.unpublished() == 0 })
	batches, calls := pub.snapshot()
	if diff := cmp.Diff([][]string{ids(1, 3)}, batches); diff != "" {
		t.Errorf("published batches (-want +got):\n%s", diff)
	}
	if len(calls) != 5 {
		t.Fatalf("%d publish attempts, want 5", len(calls))
	}
	// Waits of 20, 40, 80, 160 ms: each at least the scheduled delay.
	want := 20 * time.Millisecond
	for i := 1; i < len(calls); i++ {
		gap := calls[i].Sub(calls[i-1])
		if gap < want {
			t.Errorf("attempt %d came %s after the previous, want at least %s", i+1, gap, want)
		}
		want *= 2
	}
}

// A Notify that arrives while the relay is busy is not lost: the relay
// flushes again at once after the current pass.
func TestNotifyDuringFlushIsKept(t *testing.T) {
	src := newMemSource(0)
	pub := &memPublisher{}
	r := outbox.NewRelay(src, pub, outbox.Options{Interval: 10 * time.Second})
	// The first pass reads nothing; a writer commits and notifies before
	// that pass returns.
	src.afterRead = func() {
		src.add(1)
		r.Notify()
		r.Notify() // never blocks, even with a wake-up already queued
	}
	runRelay(t, r)
	waitFor(t, "the event committed during a flush", 2*time.Second, func() bool { return src.unpublished() == 0 })
}

func TestNewRelayDefaults(t *testing.T) {
	src := newMemSource(300)
	pub := &memPublisher{}
	r := outbox.NewRelay(src, pub, outbox.Options{Batch: -1, Interval: -1})
	n, err := r.Flush(context.Background())
	if err != nil || n != 256 {
		t.Errorf("Flush with the default batch = %d, %v; want 256, nil", n, err)
	}
}

func TestContextHeaders(t *testing.T) {
	in := map[string]string{"a": "1"}
	if got := outbox.ContextHeaders(context.Background(), in); !maps.Equal(got, in) {
		t.Errorf("ContextHeaders without request id or trace = %v, want the input %v", got, in)
	}
	got := outbox.ContextHeaders(telemetry.WithRequestID(context.Background(), "r-1"), in)
	if diff := cmp.Diff(map[string]string{"a": "1", telemetry.HeaderRequestID: "r-1"}, got); diff != "" {
		t.Errorf("ContextHeaders with a request id (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"a": "1"}, in); diff != "" {
		t.Errorf("ContextHeaders changed its input (-want +got):\n%s", diff)
	}
}
