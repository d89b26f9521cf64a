package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
	"github.com/souk/souk/platform/telemetry"
)

const source = "shop"

// conn is one process's connection to the broker.
type conn struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	bus *events.Bus
}

func connect(t testing.TB, url string) *conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, js, err := broker.Connect(ctx, url, "outbox-test", nil)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	bus := events.NewBus(nc, js, events.Options{})
	if err := bus.EnsureStream(ctx, source); err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	return &conn{nc: nc, js: js, bus: bus}
}

// stored returns the messages of the source's stream, in stream order.
func (c *conn) stored(t testing.TB) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, events.StreamOf(source))
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

func (c *conn) count(t testing.TB) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, events.StreamOf(source))
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State.Msgs
}

func msgIDs(msgs []*jetstream.RawStreamMsg) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Header.Get(nats.MsgIdHdr)
	}
	return out
}

func newEvent(t testing.TB, key string) events.Event {
	t.Helper()
	ev, err := events.New("ITEM_ADDED", source, key, map[string]string{"key": key})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// add commits evs in one transaction.
func add(t testing.TB, ctx context.Context, db *sqlstore.DB, evs ...events.Event) {
	t.Helper()
	err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
		for _, ev := range evs {
			if err := outbox.Add(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("add: %v", err)
	}
}

func eventIDs(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// unpublished counts the outbox rows not marked published.
func unpublished(t testing.TB, db *sqlstore.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		t.Fatalf("count unpublished: %v", err)
	}
	return n
}

// drain flushes r until nothing is pending.
func drain(t testing.TB, r *outbox.Relay) {
	t.Helper()
	for range 1000 {
		n, err := r.Flush(context.Background())
		if err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("Flush never ran out of events")
}

func TestCommittedEventsArePublishedInOrder(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		c := connect(t, brokertest.Embedded(t))

		const rid = "req-outbox-1"
		traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
		spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
		ctx := telemetry.WithRequestID(context.Background(), rid)
		ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}))

		var want []events.Event
		for i := range 3 {
			ev := newEvent(t, "a"+strconv.Itoa(i))
			ev.Headers = map[string]string{"X-Extra": "kept"}
			want = append(want, ev)
		}
		add(t, ctx, db, want[0], want[1])
		// A transaction that rolls back takes its event with it.
		rolledBack := newEvent(t, "rolled-back")
		errAbort := errors.New("abort")
		err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
			if err := outbox.Add(ctx, tx, rolledBack); err != nil {
				return err
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("Tx = %v, want the abort error", err)
		}
		add(t, ctx, db, want[2])
		more := []events.Event{newEvent(t, "b0"), newEvent(t, "b1")}
		add(t, context.Background(), db, more...) // no request id here
		want = append(want, more...)

		r := outbox.NewRelay(outbox.Table{DB: db}, c.bus, outbox.Options{Batch: 2})
		drain(t, r)

		msgs := c.stored(t)
		if diff := cmp.Diff(eventIDs(want), msgIDs(msgs)); diff != "" {
			t.Fatalf("stream message ids (-want +got):\n%s", diff)
		}
		for i, m := range msgs {
			var got events.Event
			if err := json.Unmarshal(m.Data, &got); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if got.ID != want[i].ID || got.Key != want[i].Key || string(got.Data) != string(want[i].Data) || !got.Time.Equal(want[i].Time.Truncate(time.Millisecond)) {
				t.Errorf("message %d = %+v, want %+v (time to the millisecond)", i, got, want[i])
			}
			if m.Subject != "shop.item_added" {
				t.Errorf("message %d subject = %q, want shop.item_added", i, m.Subject)
			}
			wantRID, wantExtra, wantTP := rid, "kept", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			if i >= 3 {
				wantRID, wantExtra, wantTP = "", "", ""
			}
			if got := m.Header.Get(telemetry.HeaderRequestID); got != wantRID {
				t.Errorf("message %d %s = %q, want %q", i, telemetry.HeaderRequestID, got, wantRID)
			}
			if got := m.Header.Get("X-Extra"); got != wantExtra {
				t.Errorf("message %d X-Extra = %q, want %q", i, got, wantExtra)
			}
			if got := m.Header.Get("traceparent"); got != wantTP {
				t.Errorf("message %d traceparent = %q, want %q", i, got, wantTP)
			}
		}
		if n := unpublished(t, db); n != 0 {
			t.Errorf("%d rows left unpublished after the relay drained the outbox", n)
		}
	})
}

// Notify wakes the relay at once, though its poll interval is 10s.
func TestNotifyWakesTheRelay(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		c := connect(t, brokertest.Embedded(t))
		got := make(chan time.Time, 10)
		sub, err := c.nc.Subscribe(source+".>", func(*nats.Msg) { got <- time.Now() })
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := c.nc.Flush(); err != nil {
			t.Fatal(err)
		}

		src := &watchedSource{Source: outbox.Table{DB: db}, read: make(chan struct{}, 100)}
		r := outbox.NewRelay(src, c.bus, outbox.Options{Interval: 10 * time.Second})
		runRelay(t, r)
		<-src.read // the first pass has looked and found nothing

		// Without Notify the event waits for the poll.
		add(t, context.Background(), db, newEvent(t, "quiet"))
		select {
		case <-got:
			t.Fatal("published without a Notify and long before the 10s poll")
		case <-time.After(300 * time.Millisecond):
		}
		r.Notify()
		select {
		case <-got:
		case <-time.After(2 * time.Second):
			t.Fatal("not published within 2s of Notify")
		}

		for i := range 5 {
			add(t, context.Background(), db, newEvent(t, "n"+strconv.Itoa(i)))
			start := time.Now()
			r.Notify()
			select {
			case at := <-got:
				lat := at.Sub(start)
				t.Logf("published %s after Notify", lat.Round(time.Microsecond))
				// Typically 1-7 ms under -race; the bound leaves room
				// for a machine loaded by other tests and is still far
				// below the 10s poll.
				if lat > time.Second {
					t.Errorf("published %s after Notify, want within 1s", lat)
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("event %d not published within 2s of Notify", i)
			}
		}
	})
}

// watchedSource signals each Pending call.
type watchedSource struct {
	outbox.Source
	read chan struct{}
}

func (w *watchedSource) Pending(ctx context.Context, limit int) ([]outbox.Record, error) {
	recs, err := w.Source.Pending(ctx, limit)
	select {
	case w.read <- struct{}{}:
	default:
	}
	return recs, err
}

// failingBus fails its first failures publishes without sending anything.
type failingBus struct {
	bus      *events.Bus
	failures atomic.Int32
	calls    atomic.Int32
}

func (f *failingBus) PublishBatch(ctx context.Context, evs []events.Event) error {
	f.calls.Add(1)
	if f.failures.Add(-1) >= 0 {
		return errors.New("broker unreachable")
	}
	return f.bus.PublishBatch(ctx, evs)
}

func TestRelaySurvivesFailingPublisher(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		c := connect(t, brokertest.Embedded(t))
		pub := &failingBus{bus: c.bus}
		pub.failures.Store(3)
		evs := []events.Event{newEvent(t, "1"), newEvent(t, "2"), newEvent(t, "3")}
		add(t, context.Background(), db, evs...)
		r := outbox.NewRelay(outbox.Table{DB: db}, pub, outbox.Options{Interval: 10 * time.Millisecond})
		runRelay(t, r)
		waitFor(t, "the outbox to drain", 5*time.Second, func() bool { return unpublished(t, db) == 0 })
		if got := pub.calls.Load(); got < 4 {
			t.Errorf("%d publish calls, want at least 4 (3 failures)", got)
		}
		if diff := cmp.Diff(eventIDs(evs), msgIDs(c.stored(t))); diff != "" {
			t.Errorf("stream (-want +got):\n%s", diff)
		}
	})
}

// The broker goes away and comes back on the same port and store: events
// written meanwhile stay unpublished until it has acknowledged them, and none
// is lost or doubled.
func TestRelaySurvivesBrokerRestart(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		dir := t.TempDir()
		srv, err := broker.StartEmbedded(broker.EmbeddedOptions{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Shutdown() }) // whichever runs at the end
		u, _ := url.Parse(srv.ClientURL())
		port, _ := strconv.Atoi(u.Port())
		c := connect(t, srv.ClientURL())

		r := outbox.NewRelay(outbox.Table{DB: db}, c.bus, outbox.Options{Interval: 10 * time.Millisecond})
		runRelay(t, r)
		var all []events.Event
		before := newEvent(t, "before")
		all = append(all, before)
		add(t, context.Background(), db, before)
		r.Notify()
		waitFor(t, "the first event", 5*time.Second, func() bool { return unpublished(t, db) == 0 })

		srv.Shutdown()
		for i := range 5 {
			ev := newEvent(t, "during"+strconv.Itoa(i))
			all = append(all, ev)
			add(t, context.Background(), db, ev)
			r.Notify()
		}
		time.Sleep(300 * time.Millisecond) // the relay tries and fails meanwhile
		if n := unpublished(t, db); n != 5 {
			t.Fatalf("%d rows unpublished while the broker is down, want all 5", n)
		}

		if srv, err = broker.StartEmbedded(broker.EmbeddedOptions{Dir: dir, Port: port}); err != nil {
			t.Fatalf("restart broker: %v", err)
		}
		waitFor(t, "the outbox to drain after the restart", 30*time.Second, func() bool { return unpublished(t, db) == 0 })
		got := msgIDs(c.stored(t))
		if diff := cmp.Diff(eventIDs(all), got); diff != "" {
			t.Errorf("stream after the restart (-want +got):\n%s", diff)
		}
	})
}

// markFailing is the outbox table whose MarkPublished fails once: a crash
// between the broker's ack and the mark.
type markFailing struct {
	outbox.Table
	failed atomic.Bool
}

func (m *markFailing) MarkPublished(ctx context.Context, seqs []int64) error {
	if m.failed.CompareAndSwap(false, true) {
		return errors.New("crashed before marking")
	}
	return m.Table.MarkPublished(ctx, seqs)
}

func TestRepublishIsDroppedAsDuplicate(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		c := connect(t, brokertest.Embedded(t))
		evs := []events.Event{newEvent(t, "1"), newEvent(t, "2"), newEvent(t, "3")}
		add(t, context.Background(), db, evs...)

		src := &markFailing{Table: outbox.Table{DB: db}}
		r := outbox.NewRelay(src, c.bus, outbox.Options{})
		if _, err := r.Flush(context.Background()); err == nil {
			t.Fatal("Flush succeeded though MarkPublished failed")
		}
		if n := unpublished(t, db); n != 3 {
			t.Fatalf("%d rows unpublished after the failed mark, want 3", n)
		}
		if got := c.count(t); got != 3 {
			t.Fatalf("stream holds %d messages after the first publish, want 3", got)
		}
		drain(t, r) // the restart: the batch goes out again
		if n := unpublished(t, db); n != 0 {
			t.Errorf("%d rows unpublished after the retry, want 0", n)
		}

		// And once more, as if the mark had been lost entirely.
		if _, err := db.Exec(context.Background(), `UPDATE outbox SET published_at = NULL`); err != nil {
			t.Fatal(err)
		}
		drain(t, outbox.NewRelay(outbox.Table{DB: db}, c.bus, outbox.Options{}))

		if diff := cmp.Diff(eventIDs(evs), msgIDs(c.stored(t))); diff != "" {
			t.Errorf("stream after republishing twice (-want +got):\n%s", diff)
		}
	})
}

// Two replicas of a service, each with its own database handle, broker
// connection and relay, over one database: every event reaches the stream
// exactly once.
func TestTwoRelaysOnOneDatabase(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		url := brokertest.Embedded(t)
		dbs := []*sqlstore.DB{open(nil), open(nil)}
		conns := []*conn{connect(t, url), connect(t, url)}
		var relays []*outbox.Relay
		for i := range 2 {
			r := outbox.NewRelay(outbox.Table{DB: dbs[i]}, conns[i].bus, outbox.Options{Interval: 5 * time.Millisecond, Batch: 16})
			relays = append(relays, r)
			runRelay(t, r)
		}
		const writers, each = 4, 40
		var mu sync.Mutex
		var want []string
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				db, r := dbs[w%2], relays[w%2]
				for i := range each {
					ev, err := events.New("ITEM_ADDED", source, fmt.Sprintf("w%d-%d", w, i), nil)
					if err != nil {
						errs <- err
						return
					}
					err = db.Tx(context.Background(), func(tx *sqlstore.Tx) error { return outbox.Add(context.Background(), tx, ev) })
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					want = append(want, ev.ID)
					mu.Unlock()
					r.Notify()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("writer: %v", err)
		}
		waitFor(t, "the outbox to drain", 20*time.Second, func() bool { return unpublished(t, dbs[0]) == 0 })
		got := msgIDs(conns[0].stored(t))
		seen := map[string]int{}
		for _, id := range got {
			seen[id]++
		}
		for _, id := range want {
			if seen[id] != 1 {
				t.Errorf("event %s is in the stream %d times, want once", id, seen[id])
			}
		}
		if len(got) != writers*each {
			t.Errorf("stream holds %d messages, want %d", len(got), writers*each)
		}
	})
}

func TestPrune(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		ctx := context.Background()
		now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		rows := []struct { // in seq order
			key string
			at  *time.Time // published_at
		}{
			{"old-published", ptr(now.Add(-3 * time.Hour))},
			{"edge-published", ptr(now.Add(-2*time.Hour + time.Second))},
			{"recent-published", ptr(now.Add(-time.Minute))},
			{"unpublished", nil},
		}
		for _, row := range rows {
			key, at := row.key, row.at
			ev := newEvent(t, key)
			ev.Time = now.Add(-5 * time.Hour) // created long ago in every case
			add(t, ctx, db, ev)
			if at != nil {
				if _, err := db.Exec(ctx, `UPDATE outbox SET published_at = ? WHERE key = ?`, at.UnixMilli(), key); err != nil {
					t.Fatal(err)
				}
			}
		}
		keys := func() []string { return column[string](t, db, `SELECT key FROM outbox ORDER BY key`) }

		if err := (outbox.Table{DB: db, Retention: 2 * time.Hour}).Prune(ctx, now); err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if diff := cmp.Diff([]string{"edge-published", "recent-published", "unpublished"}, keys()); diff != "" {
			t.Errorf("rows after Prune with 2h retention (-want +got):\n%s", diff)
		}
		// The default retention is one hour.
		if err := (outbox.Table{DB: db}).Prune(ctx, now); err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if diff := cmp.Diff([]string{"recent-published", "unpublished"}, keys()); diff != "" {
			t.Errorf("rows after Prune with the default retention (-want +got):\n%s", diff)
		}
	})
}

// Prune keeps the newest row, though published long ago, so that a new
// row's seq is never below one the relay has read (OrderedSource).
func TestPruneKeepsNewestRow(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		ctx := context.Background()
		tbl := outbox.Table{DB: db}
		seqs := func() []int64 { return column[int64](t, db, `SELECT seq FROM outbox ORDER BY seq`) }
		add(t, ctx, db, newEvent(t, "a"), newEvent(t, "b"))
		before := seqs()
		if err := tbl.MarkPublished(ctx, before); err != nil {
			t.Fatal(err)
		}
		if err := tbl.Prune(ctx, time.Now().Add(24*time.Hour)); err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if got := seqs(); len(got) != 1 || got[0] != before[1] {
			t.Fatalf("seqs after Prune = %v, want only the newest, %d", got, before[1])
		}
		add(t, ctx, db, newEvent(t, "c"))
		got := seqs()
		if len(got) != 2 || got[1] <= before[1] {
			t.Errorf("seqs after a new row = %v, want a new seq above %d", got, before[1])
		}
		recs, err := tbl.PendingAfter(ctx, before[1], 10)
		if err != nil || len(recs) != 1 || recs[0].Event.Key != "c" {
			t.Errorf("PendingAfter(%d) = %v, %v; want the new row", before[1], recs, err)
		}
	})
}

// Prune deletes the oldest rows only up to the first row to keep: an old
// published row after an unpublished one stays until that one goes, and
// more rows than one batch are all deleted.
func TestPruneDeletesThePrefixInBatches(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		ctx := context.Background()
		now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		old := now.Add(-2 * time.Hour).UnixMilli()
		const many = 2500 // more than one batch
		evs := make([]events.Event, 0, many+2)
		for i := range many {
			evs = append(evs, newEvent(t, fmt.Sprintf("old-%04d", i)))
		}
		evs = append(evs, newEvent(t, "unpublished"), newEvent(t, "old-after-unpublished"), newEvent(t, "recent"))
		add(t, ctx, db, evs...)
		if _, err := db.Exec(ctx, `UPDATE outbox SET published_at = ? WHERE key NOT IN ('unpublished', 'recent')`, old); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE outbox SET published_at = ? WHERE key = 'recent'`, now.Add(-time.Minute).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		tbl := outbox.Table{DB: db}
		if err := tbl.Prune(ctx, now); err != nil {
			t.Fatalf("Prune: %v", err)
		}
		keys := func() []string { return column[string](t, db, `SELECT key FROM outbox ORDER BY seq`) }
		if diff := cmp.Diff([]string{"unpublished", "old-after-unpublished", "recent"}, keys()); diff != "" {
			t.Errorf("rows after Prune (-want +got):\n%s", diff)
		}
		// Once the unpublished row is published (long ago), both old rows go.
		if _, err := db.Exec(ctx, `UPDATE outbox SET published_at = ? WHERE key = 'unpublished'`, old); err != nil {
			t.Fatal(err)
		}
		if err := tbl.Prune(ctx, now); err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if diff := cmp.Diff([]string{"recent"}, keys()); diff != "" {
			t.Errorf("rows after the second Prune (-want +got):\n%s", diff)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// column returns the one column of the rows of query.
func column[T any](t testing.TB, db *sqlstore.DB, query string) []T {
	t.Helper()
	rs, err := db.Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		var v T
		if err := rs.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// MarkPublished marks more rows than one statement may carry.
func TestMarkPublishedManyRows(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		const n = 1203
		evs := make([]events.Event, n)
		for i := range evs {
			evs[i] = newEvent(t, strconv.Itoa(i))
		}
		add(t, context.Background(), db, evs...)
		tbl := outbox.Table{DB: db}
		recs, err := tbl.Pending(context.Background(), n+10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != n {
			t.Fatalf("Pending returned %d records, want %d", len(recs), n)
		}
		seqs := make([]int64, 0, n)
		for i, r := range recs {
			if r.Event.ID != evs[i].ID {
				t.Fatalf("record %d is %s, want %s (insertion order)", i, r.Event.ID, evs[i].ID)
			}
			seqs = append(seqs, r.Seq)
		}
		if err := tbl.MarkPublished(context.Background(), seqs[:n-1]); err != nil {
			t.Fatalf("MarkPublished: %v", err)
		}
		if got := unpublished(t, db); got != 1 {
			t.Errorf("%d rows unpublished, want 1", got)
		}
		if err := tbl.MarkPublished(context.Background(), nil); err != nil {
			t.Errorf("MarkPublished(nil) = %v, want nil", err)
		}
	})
}

var customSchema = fstest.MapFS{"0001_journal.sql": {Data: []byte(`
CREATE TABLE journal (
    pos          {{autoid}},
    event_id     TEXT NOT NULL,
    body         TEXT NOT NULL,
    published_at BIGINT
);`)}}

// journal is a Source over a service's own table, as the order service's
// event store is.
type journal struct{ db *sqlstore.DB }

func (j journal) Pending(ctx context.Context, limit int) ([]outbox.Record, error) {
	rows, err := j.db.Query(ctx, `SELECT pos, event_id, body FROM journal WHERE published_at IS NULL ORDER BY pos LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outbox.Record
	for rows.Next() {
		var r outbox.Record
		var body string
		if err := rows.Scan(&r.Seq, &r.Event.ID, &body); err != nil {
			return nil, err
		}
		r.Event.Type, r.Event.Source, r.Event.Key, r.Event.Data = "ENTRY_WRITTEN", source, "j", json.RawMessage(body)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (j journal) MarkPublished(ctx context.Context, seqs []int64) error {
	return outbox.MarkPublishedIn(ctx, j.db, "journal", "pos", seqs)
}

func TestCustomSource(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(customSchema)
		c := connect(t, brokertest.Embedded(t))
		var want []string
		for i := range 5 {
			id := fmt.Sprintf("journal-%d", i)
			want = append(want, id)
			if _, err := db.Exec(context.Background(), `INSERT INTO journal (event_id, body) VALUES (?, ?)`, id, fmt.Sprintf(`{"n":%d}`, i)); err != nil {
				t.Fatal(err)
			}
		}
		r := outbox.NewRelay(journal{db}, c.bus, outbox.Options{Interval: 10 * time.Millisecond, Batch: 2})
		runRelay(t, r)
		waitFor(t, "the journal to drain", 5*time.Second, func() bool {
			var n int
			err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM journal WHERE published_at IS NULL`).Scan(&n)
			return err == nil && n == 0
		})
		msgs := c.stored(t)
		if diff := cmp.Diff(want, msgIDs(msgs)); diff != "" {
			t.Errorf("stream (-want +got):\n%s", diff)
		}
		for i, m := range msgs {
			if m.Subject != "shop.entry_written" {
				t.Errorf("message %d subject = %q, want shop.entry_written", i, m.Subject)
			}
		}
	})
}

func TestDecodeHeaders(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"", nil},
		{`{"a":"1","X-Request-Id":"r"}`, map[string]string{"a": "1", "X-Request-Id": "r"}},
		{`not json`, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, outbox.DecodeHeaders(tt.in)); diff != "" {
			t.Errorf("DecodeHeaders(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// An event the broker would refuse is refused by Add, in the writer's
// transaction, rather than blocking the relay (and every later event) for
// ever.
func TestAddRefusesUnpublishableEvents(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		c := connect(t, brokertest.Embedded(t))
		tests := []struct {
			name string
			ev   events.Event
		}{
			{"no id", events.Event{Type: "ITEM_ADDED", Source: source, Data: json.RawMessage(`{}`)}},
			{"data not JSON", events.Event{ID: "bad-data", Type: "ITEM_ADDED", Source: source, Data: json.RawMessage(`{"a":`)}},
		}
		for _, tt := range tests {
			err := db.Tx(context.Background(), func(tx *sqlstore.Tx) error { return outbox.Add(context.Background(), tx, tt.ev) })
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("%s: Add = %v, want an Invalid error", tt.name, err)
			}
		}
		// Nil data is published as null, as Bus.Publish does.
		noData := events.Event{ID: "no-data", Type: "ITEM_ADDED", Source: source, Key: "k"}
		good := newEvent(t, "good")
		add(t, context.Background(), db, noData, good)
		drain(t, outbox.NewRelay(outbox.Table{DB: db}, c.bus, outbox.Options{}))
		msgs := c.stored(t)
		if diff := cmp.Diff([]string{"no-data", good.ID}, msgIDs(msgs)); diff != "" {
			t.Fatalf("stream (-want +got):\n%s", diff)
		}
		var got events.Event
		if err := json.Unmarshal(msgs[0].Data, &got); err != nil || string(got.Data) != "null" {
			t.Errorf("event without data arrived with data %q (%v), want null", got.Data, err)
		}
	})
}
