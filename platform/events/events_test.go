package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/telemetry"
	"go.opentelemetry.io/otel/trace"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// env is one test's view of a server: two buses on two connections (two
// processes), a source and a DLQ unique to the test, deleted afterwards.
type env struct {
	source string
	js     jetstream.JetStream
	bus    *Bus
	bus2   *Bus
}

func newEnv(t testing.TB, url string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := randHex(5)
	e := &env{source: "t" + id}
	for _, bp := range []**Bus{&e.bus, &e.bus2} {
		nc, js, err := broker.Connect(ctx, url, "events-test", nil)
		if err != nil {
			t.Fatalf("connect %s: %v", url, err)
		}
		t.Cleanup(nc.Close)
		bus := NewBus(nc, js, Options{})
		bus.dlqStream, bus.dlqPrefix = "DLQ_T"+strings.ToUpper(id), "dlqt"+id
		*bp = bus
		e.js = js
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range []string{StreamOf(e.source), e.bus.dlqStream} {
			if err := e.js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("delete stream %s: %v", s, err)
			}
		}
	})
	return e
}

func (e *env) event(t testing.TB, typ, key string) Event {
	t.Helper()
	ev, err := New(typ, e.source, key, map[string]string{"key": key})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ev
}

func (e *env) publish(t testing.TB, evs ...Event) {
	t.Helper()
	if err := e.bus.EnsureStream(context.Background(), e.source); err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	for _, ev := range evs {
		if err := e.bus.Publish(context.Background(), ev); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
}

func (e *env) config(durable string) ConsumerConfig {
	return ConsumerConfig{Durable: durable, Stream: e.source, MaxDeliver: 3, BackOff: []time.Duration{20 * time.Millisecond}}
}

// consume runs bus.Consume until the test ends or stop is called; stop
// waits for Consume to return and fails the test on its error.
func consume(t testing.TB, bus *Bus, cfg ConsumerConfig, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Consume(ctx, cfg, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Consume: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Consume did not return 10s after its ctx ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// recorder is a handler that records what it was called with.
type recorder struct {
	mu    sync.Mutex
	calls []Event
	ctxs  []context.Context
	fn    func(n int, ev Event) error // n counts calls from 1
}

func (r *recorder) handle(ctx context.Context, ev Event) error {
	r.mu.Lock()
	r.calls = append(r.calls, ev)
	r.ctxs = append(r.ctxs, ctx)
	n := len(r.calls)
	r.mu.Unlock()
	if r.fn != nil {
		return r.fn(n, ev)
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.calls...)
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settled waits until the consumer has nothing pending or unacked.
func (e *env) settled(t testing.TB, durable string) {
	t.Helper()
	waitFor(t, "consumer "+durable+" to settle", 5*time.Second, func() bool {
		c, err := e.js.Consumer(context.Background(), StreamOf(e.source), durable)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
	})
}

func (e *env) deadLetters(t testing.TB) []DeadLetter {
	t.Helper()
	dls, err := e.bus.DeadLetters(context.Background(), 0)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	return dls
}

// TestContract runs the bus contract against every test server.
func TestContract(t *testing.T) {
	for _, srv := range brokertest.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			for name, test := range contract {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					test(t, newEnv(t, srv.URL))
				})
			}
		})
	}
}

var contract = map[string]func(t *testing.T, e *env){
	// Concurrency handlers run at once, and never more.
	"ConcurrentHandlers": func(t *testing.T, e *env) {
		const conc, n = 3, 7
		var evs []Event
		for i := range n {
			evs = append(evs, e.event(t, "THING_DONE", "k-"+strconv.Itoa(i)))
		}
		e.publish(t, evs...)
		var mu sync.Mutex
		inFlight, peak, handled := 0, 0, 0
		release := make(chan struct{})
		cfg := e.config("conc")
		cfg.Concurrency = conc
		consume(t, e.bus2, cfg, func(ctx context.Context, ev Event) error {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			<-release
			mu.Lock()
			inFlight--
			handled++
			mu.Unlock()
			return nil
		})
		waitFor(t, strconv.Itoa(conc)+" handlers in flight", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return inFlight >= conc })
		time.Sleep(50 * time.Millisecond) // room for a fourth, which must not start
		close(release)
		waitFor(t, "every event handled", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return handled == n })
		e.settled(t, "conc")
		mu.Lock()
		defer mu.Unlock()
		if peak != conc {
			t.Errorf("at most %d handlers ran at once, want %d", peak, conc)
		}
	},
	"RoundTripWithHeaders": func(t *testing.T, e *env) {
		ev := e.event(t, "ORDER_PLACED", "o-1")
		ev.Headers = map[string]string{"X-Tenant": "acme"}
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
			SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
		})
		ctx := trace.ContextWithSpanContext(telemetry.WithRequestID(context.Background(), "req-42"), sc)
		if err := e.bus.EnsureStream(ctx, e.source); err != nil {
			t.Fatal(err)
		}
		if err := e.bus.Publish(ctx, ev); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		var rec recorder
		consume(t, e.bus2, e.config("rt"), rec.handle)
		waitFor(t, "delivery", 5*time.Second, func() bool { return rec.count() == 1 })

		got := rec.events()[0]
		if got.Subject != e.source+".order_placed" || got.Delivery != 1 || got.StreamSeq != 1 {
			t.Errorf("delivery fields = %q, %d, %d; want %q, 1, 1", got.Subject, got.Delivery, got.StreamSeq, e.source+".order_placed")
		}
		if got.Headers["X-Tenant"] != "acme" || got.Headers[telemetry.HeaderRequestID] != "req-42" {
			t.Errorf("Headers = %v, want X-Tenant and the request id", got.Headers)
		}
		opts := cmp.Options{cmp.FilterPath(func(p cmp.Path) bool {
			switch p.Last().String() {
			case ".Headers", ".Subject", ".Delivery", ".StreamSeq":
				return true
			}
			return false
		}, cmp.Ignore())}
		if diff := cmp.Diff(ev, got, opts); diff != "" {
			t.Errorf("delivered event (-published +delivered):\n%s", diff)
		}
		hctx := rec.ctxs[0]
		if got, want := telemetry.RequestID(hctx), "req-42"; got != want {
			t.Errorf("request id in handler ctx = %q, want %q", got, want)
		}
		if got := trace.SpanContextFromContext(hctx); got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsRemote() {
			t.Errorf("trace context in handler ctx = %v, want remote %v", got, sc)
		}
		e.settled(t, "rt")
	},
	"DuplicateMsgIDDropped": func(t *testing.T, e *env) {
		ev := e.event(t, "ORDER_PLACED", "o-1")
		e.publish(t, ev, ev)
		s, err := e.js.Stream(context.Background(), StreamOf(e.source))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.CachedInfo().State.Msgs, uint64(1); got != want {
			t.Errorf("stream holds %d messages after publishing one event twice, want %d", got, want)
		}
	},
	"RetryThenSuccess": func(t *testing.T, e *env) {
		e.publish(t, e.event(t, "ORDER_PLACED", "o-1"))
		rec := recorder{fn: func(n int, _ Event) error {
			if n <= 2 {
				return errors.New("not yet")
			}
			return nil
		}}
		consume(t, e.bus, e.config("retry"), rec.handle)
		waitFor(t, "3 calls", 5*time.Second, func() bool { return rec.count() >= 3 })
		e.settled(t, "retry")
		time.Sleep(200 * time.Millisecond) // 10 backoffs: room for a wrong 4th call
		var deliveries []int
		for _, ev := range rec.events() {
			deliveries = append(deliveries, ev.Delivery)
		}
		if diff := cmp.Diff([]int{1, 2, 3}, deliveries); diff != "" {
			t.Errorf("deliveries (-want +got):\n%s", diff)
		}
		if dls := e.deadLetters(t); len(dls) != 0 {
			t.Errorf("dead letters = %+v, want none", dls)
		}
	},
	"AlwaysFailingGoesToDLQAndRedrives": func(t *testing.T, e *env) {
		ev := e.event(t, "ORDER_PLACED", "o-1")
		ev.Headers = map[string]string{"X-Tenant": "acme"}
		e.publish(t, ev)
		var fail sync.Mutex // held: the handler fails
		fail.Lock()
		rec := recorder{fn: func(int, Event) error {
			if !fail.TryLock() {
				return errors.New("boom: warehouse full")
			}
			fail.Unlock()
			return nil
		}}
		consume(t, e.bus, e.config("failing"), rec.handle)
		waitFor(t, "a dead letter", 5*time.Second, func() bool { return len(e.deadLetters(t)) == 1 })
		if got, want := rec.count(), 3; got != want {
			t.Errorf("handler called %d times, want MaxDeliver = %d", got, want)
		}
		dl := e.deadLetters(t)[0]
		want := DeadLetter{Seq: dl.Seq, Consumer: "failing", Subject: e.source + ".order_placed", Error: "boom: warehouse full", Attempts: 3, Failed: dl.Failed, Event: ev}
		want.Event.Subject, want.Event.StreamSeq = want.Subject, 1
		if diff := cmp.Diff(want, dl); diff != "" {
			t.Errorf("dead letter (-want +got):\n%s", diff)
		}
		if time.Since(dl.Failed) > time.Minute {
			t.Errorf("Failed = %v, want about now", dl.Failed)
		}
		e.settled(t, "failing")

		fail.Unlock() // the cause is fixed
		if err := e.bus.Redrive(context.Background(), dl.Seq); err != nil {
			t.Fatalf("Redrive: %v", err)
		}
		waitFor(t, "the redriven event", 5*time.Second, func() bool { return rec.count() == 4 })
		got := rec.events()[3]
		if got.ID != ev.ID || got.Delivery != 1 || got.StreamSeq != 2 || got.Headers["X-Tenant"] != "acme" {
			t.Errorf("redriven event: id %s delivery %d seq %d headers %v; want id %s, delivery 1, seq 2, X-Tenant", got.ID, got.Delivery, got.StreamSeq, got.Headers, ev.ID)
		}
		if dls := e.deadLetters(t); len(dls) != 0 {
			t.Errorf("dead letters after redrive = %+v, want none", dls)
		}
		e.settled(t, "failing")
		if err := e.bus.Redrive(context.Background(), dl.Seq); !fault.Is(err, fault.NotFound) {
			t.Errorf("second Redrive = %v, want NotFound", err)
		}
	},
	"PermanentGoesStraightToDLQ": func(t *testing.T, e *env) {
		e.publish(t, e.event(t, "ORDER_PLACED", "o-1"))
		rec := recorder{fn: func(int, Event) error { return fmt.Errorf("validate: %w", Permanent(errors.New("negative total"))) }}
		consume(t, e.bus, e.config("perm"), rec.handle)
		waitFor(t, "a dead letter", 5*time.Second, func() bool { return len(e.deadLetters(t)) == 1 })
		dl := e.deadLetters(t)[0]
		if dl.Attempts != 1 || dl.Error != "validate: negative total" {
			t.Errorf("dead letter attempts %d error %q, want 1, %q", dl.Attempts, dl.Error, "validate: negative total")
		}
		e.settled(t, "perm")
		if got := rec.count(); got != 1 {
			t.Errorf("handler called %d times, want 1", got)
		}
	},
	"PoisonGoesStraightToDLQ": func(t *testing.T, e *env) {
		e.publish(t)
		if _, err := e.js.Publish(context.Background(), e.source+".order_placed", []byte("{not json")); err != nil {
			t.Fatal(err)
		}
		var rec recorder
		consume(t, e.bus, e.config("poison"), rec.handle)
		waitFor(t, "a dead letter", 5*time.Second, func() bool { return len(e.deadLetters(t)) == 1 })
		dl := e.deadLetters(t)[0]
		if !strings.HasPrefix(dl.Error, "undecodable event") || dl.Subject != e.source+".order_placed" {
			t.Errorf("dead letter error %q subject %q, want an undecodable event on %s.order_placed", dl.Error, dl.Subject, e.source)
		}
		e.settled(t, "poison")
		if got := rec.count(); got != 0 {
			t.Errorf("handler called %d times for a poison message, want 0", got)
		}
	},
	"SharedDurableSplitsWork": func(t *testing.T, e *env) {
		const n = 200
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = e.event(t, "ORDER_PLACED", fmt.Sprint(i))
		}
		slow := func(int, Event) error { time.Sleep(2 * time.Millisecond); return nil }
		a, b := recorder{fn: slow}, recorder{fn: slow}
		consume(t, e.bus, e.config("shared"), a.handle)
		consume(t, e.bus2, e.config("shared"), b.handle)
		waitFor(t, "both consumers to pull", 5*time.Second, func() bool {
			c, err := e.js.Consumer(context.Background(), StreamOf(e.source), "shared")
			if err != nil {
				return false
			}
			info, err := c.Info(context.Background())
			return err == nil && info.NumWaiting == 2
		})
		if err := e.bus.PublishBatch(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "all events", 10*time.Second, func() bool { return a.count()+b.count() >= n })
		e.settled(t, "shared")
		seen := map[string]int{}
		for _, ev := range append(a.events(), b.events()...) {
			seen[ev.ID]++
		}
		for _, ev := range evs {
			if seen[ev.ID] != 1 {
				t.Errorf("event %s handled %d times, want once", ev.Key, seen[ev.ID])
			}
		}
		if a.count() == 0 || b.count() == 0 {
			t.Errorf("split %d/%d, want both consumers to get work", a.count(), b.count())
		}
	},
	"PublishBatchKeepsOrder": func(t *testing.T, e *env) {
		const n = 1500 // more than the in-flight window
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = e.event(t, "STOCK_CHANGED", fmt.Sprint(i))
		}
		e.publish(t)
		if err := e.bus.PublishBatch(context.Background(), evs); err != nil {
			t.Fatalf("PublishBatch: %v", err)
		}
		if err := e.bus.PublishBatch(context.Background(), evs[:10]); err != nil { // a relay's retry
			t.Fatalf("PublishBatch again: %v", err)
		}
		var rec recorder
		consume(t, e.bus2, e.config("order"), rec.handle)
		waitFor(t, "all events", 10*time.Second, func() bool { return rec.count() >= n })
		e.settled(t, "order")
		got := rec.events()
		if len(got) != n {
			t.Fatalf("got %d events, want %d (retried batch deduplicated)", len(got), n)
		}
		for i, ev := range got {
			if ev.Key != fmt.Sprint(i) || ev.StreamSeq != uint64(i+1) {
				t.Fatalf("event %d has key %s and seq %d, want key %d, seq %d", i, ev.Key, ev.StreamSeq, i, i+1)
			}
		}
	},
	"PublishBatchNamesFirstFailure": func(t *testing.T, e *env) {
		// No stream for this source: JetStream does not answer.
		evs := []Event{e.event(t, "A", "1"), e.event(t, "A", "2")}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := e.bus.PublishBatch(ctx, evs)
		if !fault.Is(err, fault.Unavailable) || !strings.Contains(err.Error(), "event 1 of 2") || !strings.Contains(err.Error(), evs[0].ID) {
			t.Errorf("PublishBatch without a stream = %v, want Unavailable naming event 1 of 2", err)
		}
		if err := e.bus.Publish(ctx, evs[0]); !fault.Is(err, fault.Unavailable) {
			t.Errorf("Publish without a stream = %v, want Unavailable", err)
		}
	},
	"EnsureStreamIsIdempotent": func(t *testing.T, e *env) {
		ctx := context.Background()
		for range 3 {
			if err := e.bus.EnsureStream(ctx, e.source); err != nil {
				t.Fatalf("EnsureStream: %v", err)
			}
		}
		if err := e.bus2.EnsureStream(ctx, e.source); err != nil {
			t.Fatalf("EnsureStream from another process: %v", err)
		}
		s, err := e.js.Stream(ctx, StreamOf(e.source))
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		got := []any{cfg.Subjects, cfg.Storage, cfg.Replicas, cfg.MaxAge, cfg.Duplicates}
		want := []any{[]string{e.source + ".>"}, jetstream.FileStorage, 1, DefaultMaxAge, 2 * time.Minute}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stream config (-want +got):\n%s", diff)
		}
	},
	// A stream already as wanted is not updated (an update is a write on
	// the server, and races there with consumers being created); one with
	// other options is.
	"EnsureStreamUpdatesOnlyWhatDiffers": func(t *testing.T, e *env) {
		ctx := context.Background()
		if err := e.bus.EnsureStream(ctx, e.source); err != nil {
			t.Fatal(err)
		}
		updates, err := e.bus.nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.UPDATED." + StreamOf(e.source))
		if err != nil {
			t.Fatal(err)
		}
		defer updates.Unsubscribe()
		if err := e.bus.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		for _, b := range []*Bus{e.bus, e.bus2} {
			if err := b.EnsureStream(ctx, e.source); err != nil {
				t.Fatal(err)
			}
		}
		if msg, err := updates.NextMsg(300 * time.Millisecond); err == nil {
			t.Errorf("EnsureStream of an unchanged stream updated it: %s", msg.Data)
		}
		other := NewBus(e.bus.nc, e.js, Options{MaxAge: time.Hour})
		if err := other.EnsureStream(ctx, e.source); err != nil {
			t.Fatal(err)
		}
		if _, err := updates.NextMsg(5 * time.Second); err != nil {
			t.Errorf("EnsureStream with another MaxAge: no update advisory (%v)", err)
		}
		s, err := e.js.Stream(ctx, StreamOf(e.source))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.MaxAge; got != time.Hour {
			t.Errorf("MaxAge after EnsureStream with 1h = %v", got)
		}
	},
	"ConsumerCreatesMissingStream": func(t *testing.T, e *env) {
		var rec recorder
		consume(t, e.bus2, e.config("early"), rec.handle) // before the publisher ensured its stream
		waitFor(t, "the stream", 5*time.Second, func() bool {
			_, err := e.js.Stream(context.Background(), StreamOf(e.source))
			return err == nil
		})
		e.publish(t, e.event(t, "ORDER_PLACED", "o-1"))
		waitFor(t, "delivery", 5*time.Second, func() bool { return rec.count() == 1 })
	},
	"ShutdownDoesNotAckInFlight": func(t *testing.T, e *env) {
		ev := e.event(t, "ORDER_PLACED", "o-1")
		e.publish(t, ev)
		started := make(chan struct{})
		rec := recorder{fn: func(n int, _ Event) error { close(started); return nil }}
		blocking := func(ctx context.Context, ev Event) error {
			_ = rec.handle(ctx, ev)
			<-ctx.Done()
			return nil // claims success although it was cut short
		}
		stop := consume(t, e.bus, e.config("shut"), blocking)
		<-started
		stop()
		var again recorder
		consume(t, e.bus2, e.config("shut"), again.handle)
		waitFor(t, "redelivery", 5*time.Second, func() bool { return again.count() == 1 })
		if got := again.events()[0]; got.ID != ev.ID || got.Delivery != 2 {
			t.Errorf("redelivered id %s delivery %d, want %s, 2", got.ID, got.Delivery, ev.ID)
		}
		e.settled(t, "shut")
	},
	"SlowHandlerKeptInProgress": func(t *testing.T, e *env) {
		e.publish(t, e.event(t, "ORDER_PLACED", "o-1"))
		rec := recorder{fn: func(int, Event) error { time.Sleep(1500 * time.Millisecond); return nil }}
		cfg := e.config("slow")
		cfg.AckWait = 500 * time.Millisecond
		consume(t, e.bus, cfg, rec.handle)
		consume(t, e.bus2, cfg, rec.handle)
		waitFor(t, "the handler", 5*time.Second, func() bool { return rec.count() == 1 })
		e.settled(t, "slow")
		if got := rec.count(); got != 1 {
			t.Errorf("handler called %d times, want 1 (no redelivery while in progress)", got)
		}
	},
}

// TestDefaultDLQ runs a dead letter through the real DLQ stream name and
// RedriveAll, on the embedded server only: on a shared server RedriveAll
// would take other runs' dead letters.
func TestDefaultDLQ(t *testing.T) {
	url := brokertest.Embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, js, err := broker.Connect(ctx, url, "events-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bus := NewBus(nc, js, Options{})
	if dls, err := bus.DeadLetters(ctx, 10); err != nil || len(dls) != 0 {
		t.Fatalf("DeadLetters before any DLQ = %v, %v; want none", dls, err)
	}
	if err := bus.EnsureStream(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ev, _ := New("ORDER_PLACED", "shop", fmt.Sprint(i), nil)
		if err := bus.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	var healthy sync.Mutex
	healthy.Lock()
	rec := recorder{fn: func(int, Event) error {
		if healthy.TryLock() {
			healthy.Unlock()
			return nil
		}
		return Permanent(errors.New("down"))
	}}
	stop := consume(t, bus, ConsumerConfig{Durable: "mailer", Stream: "shop"}, rec.handle)
	defer stop()
	waitFor(t, "3 dead letters", 5*time.Second, func() bool {
		dls, _ := bus.DeadLetters(ctx, 0)
		return len(dls) == 3
	})
	s, err := js.Stream(ctx, DLQStream)
	if err != nil {
		t.Fatalf("stream %s: %v", DLQStream, err)
	}
	if got, want := s.CachedInfo().Config.Subjects, []string{"dlq.>"}; !cmp.Equal(got, want) {
		t.Errorf("DLQ subjects = %v, want %v", got, want)
	}
	if msg, err := s.GetMsg(ctx, 1); err != nil || msg.Subject != "dlq.mailer" {
		t.Errorf("first DLQ message on %q (%v), want dlq.mailer", msg.Subject, err)
	}
	if dls, err := bus.DeadLetters(ctx, 2); err != nil || len(dls) != 2 || dls[0].Event.Key != "0" || dls[1].Event.Key != "1" {
		t.Errorf("DeadLetters(2) = %+v, %v; want the first two, oldest first", dls, err)
	}
	healthy.Unlock()
	n, err := bus.RedriveAll(ctx)
	if err != nil || n != 3 {
		t.Fatalf("RedriveAll = %d, %v; want 3, nil", n, err)
	}
	waitFor(t, "redriven events", 5*time.Second, func() bool { return rec.count() == 6 })
	if dls, err := bus.DeadLetters(ctx, 0); err != nil || len(dls) != 0 {
		t.Errorf("DeadLetters after RedriveAll = %v, %v; want none", dls, err)
	}
}

func TestNew(t *testing.T) {
	ev, err := New("ORDER_PLACED", "order", "o-1", map[string]int{"total": 5})
	if err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(ev.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("ID %q: version %d (%v), want a UUIDv7", ev.ID, id.Version(), err)
	}
	if ev.Time.Location() != time.UTC || time.Since(ev.Time) > time.Minute {
		t.Errorf("Time = %v, want now in UTC", ev.Time)
	}
	if got, want := string(ev.Data), `{"total":5}`; got != want {
		t.Errorf("Data = %s, want %s", got, want)
	}
	b, _ := json.Marshal(Event{ID: "1", Type: "T", Source: "s", Key: "k", Time: time.Unix(0, 0).UTC(), Data: json.RawMessage(`{}`), Headers: map[string]string{"h": "v"}, Subject: "s.t", Delivery: 2, StreamSeq: 3})
	if got, want := string(b), `{"id":"1","type":"T","source":"s","key":"k","time":"1970-01-01T00:00:00Z","data":{}}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}

	for _, tt := range []struct{ typ, source string }{
		{"", "order"}, {"ORDER PLACED", "order"}, {"A.B", "order"}, {"A", ""}, {"A", "Order"}, {"A", "or.der"}, {"A", "dlq"}, {"A", "*"},
	} {
		if _, err := New(tt.typ, tt.source, "k", nil); !fault.Is(err, fault.Invalid) {
			t.Errorf("New(%q, %q) = %v, want Invalid", tt.typ, tt.source, err)
		}
	}
	if _, err := New("A", "order", "k", func() {}); err == nil {
		t.Error("New with unmarshalable data: nil error")
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ source, typ, subject, stream string }{
		{"order", "ORDER_PLACED", "order.order_placed", "ORDER_EVENTS"},
		{"catalog", "PRODUCT_UPDATED", "catalog.product_updated", "CATALOG_EVENTS"},
		{"auth", "USER_REGISTERED", "auth.user_registered", "AUTH_EVENTS"},
	}
	for _, tt := range tests {
		if got := SubjectOf(tt.source, tt.typ); got != tt.subject {
			t.Errorf("SubjectOf(%q, %q) = %q, want %q", tt.source, tt.typ, got, tt.subject)
		}
		if got := StreamOf(tt.source); got != tt.stream {
			t.Errorf("StreamOf(%q) = %q, want %q", tt.source, got, tt.stream)
		}
	}
}

func TestConsumerConfigDefaults(t *testing.T) {
	got, err := ConsumerConfig{Durable: "mailer", Stream: "order"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := ConsumerConfig{Durable: "mailer", Stream: "order", Subject: "order.>", MaxDeliver: 6, BackOff: DefaultBackOff, AckWait: 30 * time.Second, Concurrency: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	for i, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := got.backoff(i + 1); got != want {
			t.Errorf("backoff after attempt %d = %s, want %s", i+1, got, want)
		}
	}
	for _, bad := range []ConsumerConfig{
		{Stream: "order"},
		{Durable: "a.b", Stream: "order"},
		{Durable: "m", Stream: "ORDER"},
		{Durable: "m", Stream: "order", Subject: "catalog.>"},
	} {
		if _, err := bad.withDefaults(); !fault.Is(err, fault.Invalid) {
			t.Errorf("withDefaults(%+v) = %v, want Invalid", bad, err)
		}
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad")
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	err := fmt.Errorf("handle: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) || err.Error() != "handle: bad" {
		t.Errorf("wrapped Permanent: IsPermanent %v, Is(base) %v, text %q", IsPermanent(err), errors.Is(err, base), err)
	}
	if IsPermanent(base) {
		t.Error("IsPermanent(plain error) = true")
	}
}

func TestPublishRejectsInvalid(t *testing.T) {
	bus := NewBus(nil, nil, Options{})
	for _, ev := range []Event{{Type: "A", Source: "s"}, {ID: "1", Type: "A b", Source: "s"}, {ID: "1", Type: "A", Source: ""}, {ID: "1", Type: "A", Source: "s", Data: json.RawMessage("{")}} {
		if err := bus.Publish(context.Background(), ev); !fault.Is(err, fault.Invalid) {
			t.Errorf("Publish(%+v) = %v, want Invalid", ev, err)
		}
		if err := bus.PublishBatch(context.Background(), []Event{ev}); !fault.Is(err, fault.Invalid) {
			t.Errorf("PublishBatch(%+v) = %v, want Invalid", ev, err)
		}
	}
}

func TestHeaderCarrier(t *testing.T) {
	h := nats.Header{}
	c := headerCarrier(h)
	c.Set("traceparent", "00-x")
	if got := h["traceparent"]; len(got) != 1 || got[0] != "00-x" {
		t.Errorf("Set kept %v, want the lowercase key", h)
	}
	h2 := nats.Header{"Traceparent": {"00-y"}}
	if got := headerCarrier(h2).Get("traceparent"); got != "00-y" {
		t.Errorf("Get on a canonicalized key = %q, want 00-y", got)
	}
}

// TestConsumeSurvivesServerRestart restarts the embedded server under a
// running consumer: events published after the restart are still handled.
func TestConsumeSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv, err := broker.StartEmbedded(broker.EmbeddedOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown() }) // the restarted one, after the env's cleanup
	u, _ := url.Parse(srv.ClientURL())
	port, _ := strconv.Atoi(u.Port())
	e := newEnv(t, srv.ClientURL())
	e.publish(t, e.event(t, "ORDER_PLACED", "before"))
	var rec recorder
	consume(t, e.bus2, e.config("survivor"), rec.handle)
	waitFor(t, "the first event", 5*time.Second, func() bool { return rec.count() == 1 })

	srv.Shutdown()
	if srv, err = broker.StartEmbedded(broker.EmbeddedOptions{Dir: dir, Port: port}); err != nil {
		t.Fatalf("restart: %v", err)
	}
	after := e.event(t, "ORDER_PLACED", "after")
	waitFor(t, "a publish after the restart", 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return e.bus.Publish(ctx, after) == nil
	})
	start := time.Now()
	waitFor(t, "the event published after the restart", 20*time.Second, func() bool { return rec.count() == 2 })
	t.Logf("handled %s after the publish", time.Since(start).Round(time.Millisecond))
	if got := rec.events()[1].Key; got != "after" {
		t.Errorf("second event key = %q, want after", got)
	}
}
