package outbox_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/outbox"
)

// gate blocks every MarkPublished of src until release is called.
func gate(src *memSource) (release func()) {
	open := make(chan struct{})
	src.beforeMark = func() { <-open }
	return func() { close(open) }
}

// A mark waiting for the database's write lock does not hold up the next
// batch, and rows published but not yet marked are not published again.
func TestRunPublishesWhileMarking(t *testing.T) {
	src := newMemSource(3)
	release := gate(src)
	pub := &memPublisher{}
	r := outbox.NewRelay(src, pub, outbox.Options{Batch: 3, Interval: 5 * time.Millisecond})
	runRelay(t, r)
	waitFor(t, "the first batch", 2*time.Second, func() bool { b, _ := pub.snapshot(); return len(b) == 1 })
	src.add(3) // at once: a poll between single adds would split the batch
	r.Notify()
	waitFor(t, "the second batch while the first is unmarked", 2*time.Second, func() bool { b, _ := pub.snapshot(); return len(b) == 2 })
	time.Sleep(30 * time.Millisecond) // several polls with 6 rows unmarked
	release()
	waitFor(t, "all marked", 2*time.Second, func() bool { return src.unpublished() == 0 })
	time.Sleep(30 * time.Millisecond)
	batches, _ := pub.snapshot()
	if diff := cmp.Diff([][]string{ids(1, 3), ids(4, 6)}, batches); diff != "" {
		t.Errorf("published batches (-want +got):\n%s", diff)
	}
}

// A failed mark is retried; the events are not published again.
func TestRunRetriesFailedMark(t *testing.T) {
	src := newMemSource(2)
	src.markErr = errors.New("database is locked")
	pub := &memPublisher{}
	runRelay(t, outbox.NewRelay(src, pub, outbox.Options{Interval: 5 * time.Millisecond}))
	waitFor(t, "all marked", 2*time.Second, func() bool { return src.unpublished() == 0 })
	batches, _ := pub.snapshot()
	if diff := cmp.Diff([][]string{ids(1, 2)}, batches); diff != "" {
		t.Errorf("published batches (-want +got):\n%s", diff)
	}
	src.mu.Lock()
	marks := len(src.marked)
	src.mu.Unlock()
	if marks != 1 {
		t.Errorf("successful marks = %d, want 1 (after one failure)", marks)
	}
}

// Publishing waits when maxUnmarked (8) batches wait to be marked.
func TestRunBoundsUnmarked(t *testing.T) {
	src := newMemSource(20)
	release := gate(src)
	pub := &memPublisher{}
	runRelay(t, outbox.NewRelay(src, pub, outbox.Options{Batch: 1, Interval: 5 * time.Millisecond}))
	waitFor(t, "8 batches", 2*time.Second, func() bool { b, _ := pub.snapshot(); return len(b) >= 8 })
	time.Sleep(50 * time.Millisecond)
	if b, _ := pub.snapshot(); len(b) != 8 {
		t.Errorf("published %d batches with every mark blocked, want 8", len(b))
	}
	release()
	waitFor(t, "all 20 marked", 2*time.Second, func() bool { return src.unpublished() == 0 })
	if b, _ := pub.snapshot(); len(b) != 20 {
		t.Errorf("published %d batches in all, want 20 (no duplicates)", len(b))
	}
}

// When Run stops while a mark has failed, it marks what it published before
// returning, so the next relay does not publish it again.
func TestRunMarksPublishedOnStop(t *testing.T) {
	src := newMemSource(2)
	inMark := make(chan struct{})
	unblock := make(chan struct{})
	first := true // guarded by src.mu
	src.beforeMark = func() {
		src.mu.Lock()
		isFirst := first
		if first {
			first = false
			src.markErr = errors.New("interrupted") // this mark fails
		}
		src.mu.Unlock()
		if isFirst {
			close(inMark)
			<-unblock
		}
	}
	pub := &memPublisher{}
	r := outbox.NewRelay(src, pub, outbox.Options{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-inMark:
	case <-time.After(2 * time.Second):
		t.Fatal("the relay never marked")
	}
	cancel()
	close(unblock)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return within 3s of its context ending")
	}
	if n := src.unpublished(); n != 0 {
		t.Errorf("%d events left unmarked after Run returned, want 0", n)
	}
}

// Over an ordered source the relay reads past what it published, so rows
// waiting to be marked are never read again, and it marks what it
// published during one poll interval in one go.
func TestRunOverOrderedSourceMarksLazily(t *testing.T) {
	src := newMemSource(0)
	src.ordered = true
	pub := &memPublisher{}
	r := outbox.NewRelay(src, pub, outbox.Options{Interval: 200 * time.Millisecond})
	runRelay(t, r)
	const n = 20
	for i := range n {
		src.add(1)
		r.Notify()
		waitFor(t, "event "+strconv.Itoa(i+1)+" published", 2*time.Second, func() bool { b, _ := pub.snapshot(); return len(b) == i+1 })
	}
	waitFor(t, "all marked", 2*time.Second, func() bool { return src.unpublished() == 0 })
	batches, _ := pub.snapshot()
	var got []string
	for _, b := range batches {
		got = append(got, b...)
	}
	if diff := cmp.Diff(ids(1, n), got); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	// The read after the last event comes at the next tick, which may
	// come after the mark.
	waitFor(t, "a read after event "+strconv.Itoa(n), 2*time.Second, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return len(src.after) > 0 && src.after[len(src.after)-1] == n
	})
	src.mu.Lock()
	marks, after := len(src.marked), src.after
	src.mu.Unlock()
	// Twenty events published one by one within well under a second:
	// marked in a few transactions (one per 200 ms), not twenty.
	if marks > 5 {
		t.Errorf("%d marks for %d events published one at a time, want at most 5", marks, n)
	}
	// Each read starts after the last event published: 0, 1, 2, ...
	for i, a := range after {
		if a < 0 || a > n || (i > 0 && a < after[i-1]) {
			t.Fatalf("reads after %v: want a rising cursor", after)
		}
	}
}

// An unordered source (PostgreSQL) is still marked after every batch, so
// that its reads, which return unmarked rows, stay short.
func TestRunOverUnorderedSourceMarksEachBatch(t *testing.T) {
	src := newMemSource(0)
	pub := &memPublisher{}
	r := outbox.NewRelay(src, pub, outbox.Options{Interval: 200 * time.Millisecond})
	runRelay(t, r)
	const n = 5
	for i := range n {
		src.add(1)
		r.Notify()
		waitFor(t, "event "+strconv.Itoa(i+1)+" marked", 2*time.Second, func() bool { return src.unpublished() == 0 })
	}
	src.mu.Lock()
	marks, after := len(src.marked), len(src.after)
	src.mu.Unlock()
	if marks != n || after != 0 {
		t.Errorf("%d marks and %d ordered reads for %d events, want %d and 0", marks, after, n, n)
	}
}
