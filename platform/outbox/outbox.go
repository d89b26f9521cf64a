package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/faultinject"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/telemetry"
)

// Record is one unpublished event with its position in the source.
type Record struct {
	Seq   int64
	Event events.Event
}

// Source is a table of events waiting to be published.
type Source interface {
	// Pending returns up to limit unpublished events, oldest first.
	Pending(ctx context.Context, limit int) ([]Record, error)
	// MarkPublished records that the events at seqs reached the broker.
	MarkPublished(ctx context.Context, seqs []int64) error
}

// Add stores ev in the outbox table as part of tx.
// The request id and trace context of ctx travel with the event as headers.
// It returns an Invalid error for an event without an id or whose Data is
// not JSON (nil Data is stored as null, as Bus.Publish sends it): such an
// event could never be published and would hold up every event after it.
func Add(ctx context.Context, tx *sqlstore.Tx, ev events.Event) error {
	data := ev.Data
	switch {
	case ev.ID == "":
		return fmt.Errorf("outbox add %s: %w", ev.Type, fault.Invalidf("event %s has no id", ev.Type))
	case len(data) == 0:
		data = json.RawMessage("null")
	case !json.Valid(data):
		return fmt.Errorf("outbox add %s: %w", ev.Type, fault.Invalidf("event %s data is not JSON", ev.Type))
	}
	headers, err := encodeHeaders(ContextHeaders(ctx, ev.Headers))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (event_id, source, type, key, data, headers, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		ev.ID, ev.Source, ev.Type, ev.Key, string(data), headers, ev.Time.UnixMilli())
	if err != nil {
		return fmt.Errorf("outbox add %s: %w", ev.Type, err)
	}
	return nil
}

// ContextHeaders returns h plus the request id and W3C trace context of ctx,
// for events that are published later, outside the request.
func ContextHeaders(ctx context.Context, h map[string]string) map[string]string {
	id := telemetry.RequestID(ctx)
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	if id == "" && len(carrier) == 0 {
		return h
	}
	out := make(map[string]string, len(h)+len(carrier)+1)
	for k, v := range h {
		out[k] = v
	}
	for k, v := range carrier {
		out[k] = v
	}
	if id != "" {
		out[telemetry.HeaderRequestID] = id
	}
	return out
}

func encodeHeaders(h map[string]string) (string, error) {
	if len(h) == 0 {
		return "", nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("outbox headers: %w", err)
	}
	return string(b), nil
}

// DecodeHeaders is the inverse of the headers column encoding.
func DecodeHeaders(s string) map[string]string {
	if s == "" {
		return nil
	}
	var h map[string]string
	_ = json.Unmarshal([]byte(s), &h)
	return h
}

// Table is the Source over the platform's outbox table.
type Table struct {
	DB *sqlstore.DB
	// Retention is how long published rows are kept (default 1h); they
	// are deleted by Prune.
	Retention time.Duration
}

// Pending implements Source.
func (t Table) Pending(ctx context.Context, limit int) ([]Record, error) {
	return t.PendingAfter(ctx, 0, limit)
}

// Ordered implements OrderedSource: true on SQLite.
func (t Table) Ordered() bool { return t.DB.Dialect() == sqlstore.SQLite }

// PendingAfter implements OrderedSource.
func (t Table) PendingAfter(ctx context.Context, after int64, limit int) ([]Record, error) {
	recs, err := ReadRecords(ctx, t.DB, `SELECT seq, event_id, source, type, key, data, headers, created_at FROM outbox WHERE published_at IS NULL AND seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox pending: %w", err)
	}
	return recs, nil
}

// ReadRecords runs query, which selects seq, event_id, source, type, key,
// data, headers and created_at (Unix milliseconds) in that order, and
// returns its rows as records; sources over other tables use it.
func ReadRecords(ctx context.Context, db *sqlstore.DB, query string, args ...any) ([]Record, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var data, headers string
		var created int64
		if err := rows.Scan(&r.Seq, &r.Event.ID, &r.Event.Source, &r.Event.Type, &r.Event.Key, &data, &headers, &created); err != nil {
			return nil, err
		}
		r.Event.Data = json.RawMessage(data)
		r.Event.Headers = DecodeHeaders(headers)
		r.Event.Time = time.UnixMilli(created).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkPublished implements Source.
func (t Table) MarkPublished(ctx context.Context, seqs []int64) error {
	return markPublished(ctx, t.DB, "outbox", "seq", seqs)
}

// pruneBatch bounds each delete of Prune, so that pruning never holds the
// write lock long enough to stall the service's own transactions.
const pruneBatch = 1000

// Prune deletes the rows published before the retention, oldest first, in
// batches of their own transactions. It stops at the first row, in seq
// order, that is unpublished or recent, so it reads only the rows it
// deletes (there is no index on published_at: a scan of the whole table,
// an hour of events, every minute would hold the write lock for that long
// under load); a row published out of seq order (PostgreSQL) waits for
// the rows before it. It keeps the newest row: on SQLite a new row's seq
// is one more than the highest left, and a seq must never go back
// (OrderedSource).
func (t Table) Prune(ctx context.Context, now time.Time) error {
	ret := t.Retention
	if ret == 0 {
		ret = time.Hour
	}
	var end int64 // delete below this seq
	err := t.DB.QueryRow(ctx, `SELECT seq FROM outbox WHERE published_at IS NULL OR published_at >= ? ORDER BY seq LIMIT 1`,
		now.Add(-ret).UnixMilli()).Scan(&end)
	if errors.Is(err, sql.ErrNoRows) {
		err = t.DB.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM outbox`).Scan(&end)
	}
	if err != nil {
		return fmt.Errorf("outbox prune: %w", err)
	}
	for {
		res, err := t.DB.Exec(ctx, `DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE seq < ? ORDER BY seq LIMIT ?)`, end, pruneBatch)
		if err != nil {
			return fmt.Errorf("outbox prune: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("outbox prune: %w", err)
		}
		if n < pruneBatch {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// MarkPublishedIn sets published_at on the rows of table whose column is in
// seqs; sources over other tables use it.
func MarkPublishedIn(ctx context.Context, db *sqlstore.DB, table, column string, seqs []int64) error {
	return markPublished(ctx, db, table, column, seqs)
}

func markPublished(ctx context.Context, db *sqlstore.DB, table, column string, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	const chunk = 512
	// One transaction for all chunks: one turn at the write connection
	// (on SQLite one group commit), however many rows.
	err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
		for rest := seqs; len(rest) > 0; {
			n := min(len(rest), chunk)
			part := rest[:n]
			rest = rest[n:]
			// The IN list is padded to a power of two with the last seq,
			// so the statement cache holds ten texts, not one per count.
			size := 1
			for size < n {
				size *= 2
			}
			args := make([]any, 0, size+1)
			args = append(args, now)
			for _, s := range part {
				args = append(args, s)
			}
			for len(args) < size+1 {
				args = append(args, part[n-1])
			}
			q := fmt.Sprintf(`UPDATE %s SET published_at = ? WHERE %s IN (?%s)`, table, column, strings.Repeat(", ?", size-1))
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	return nil
}

// Publisher is what the relay publishes to: *events.Bus.
type Publisher interface {
	PublishBatch(ctx context.Context, evs []events.Event) error
}

// Options configures a Relay.
type Options struct {
	Interval time.Duration // poll interval, default 100ms
	Batch    int           // events per publish batch, default 256
	Logger   *slog.Logger
	// Prune, when set, is called about once a minute.
	Prune func(ctx context.Context, now time.Time) error
	// Faults and Name enable the crash points <Name>.outbox.before_publish
	// and <Name>.outbox.after_publish (package faultinject).
	Faults *faultinject.Points
	Name   string
}

// OrderedSource is a Source that can tell whether its rows become visible
// in seq order: whether every row with a lower seq than a visible row is
// visible too, so that nothing can appear behind what the relay has read.
// That holds on SQLite, where one writer assigns seqs and commits in turn
// (if seqs never go back: see Table.Prune), and not on PostgreSQL, where a
// transaction takes its seq before it commits and may commit after a later
// one.
//
// Over an ordered source the relay reads past the last seq it published
// instead of skipping rows it published but has not marked yet, so it can
// mark them lazily: once per poll interval, in one transaction, rather
// than after every batch. A relay that stops before marking leaves at most
// an interval's events to be published again by the next one, which the
// broker and the consumers drop as duplicates.
type OrderedSource interface {
	Source
	// Ordered reports whether the order holds for this source.
	Ordered() bool
	// PendingAfter is Pending for the rows with a seq above after.
	PendingAfter(ctx context.Context, after int64, limit int) ([]Record, error)
}

// Relay publishes a Source's events.
type Relay struct {
	src  Source
	pub  Publisher
	opts Options
	wake chan struct{}
	// ordered is src when its rows become visible in seq order.
	ordered OrderedSource
}

// NewRelay returns a relay from src to pub.
func NewRelay(src Source, pub Publisher, opts Options) *Relay {
	if opts.Interval <= 0 {
		opts.Interval = 100 * time.Millisecond
	}
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{src: src, pub: pub, opts: opts, wake: make(chan struct{}, 1)}
	if o, ok := src.(OrderedSource); ok && o.Ordered() {
		r.ordered = o
	}
	return r
}

// Notify wakes the relay; it never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx is done. Errors (broker or database down) are logged
// and retried with backoff; Run returns nil when ctx ends.
//
// Run publishes and marks in two goroutines: a batch is marked published in
// the background while the next one is read and published, so waiting for
// the database's write lock (on SQLite one writer per process, shared with
// the service's own transactions) never holds up publishing. Rows published
// but not yet marked are skipped by later reads; at most maxUnmarked
// batches wait to be marked before publishing waits too. When ctx ends,
// Run tries for up to a second more to mark what it published; what stays
// unmarked is published again by the next relay (a duplicate the broker and
// consumers drop).
func (r *Relay) Run(ctx context.Context) error {
	m := newMarker(r.src, r.opts.Logger)
	if r.ordered != nil {
		m.delay = r.opts.Interval
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.run(ctx, r.opts.Interval) }()
	defer func() {
		wg.Wait()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalMarkWait)
		defer cancel()
		if seqs := m.take(); len(seqs) > 0 {
			if err := r.src.MarkPublished(fctx, seqs); err != nil {
				r.opts.Logger.WarnContext(fctx, "outbox relay: published events left unmarked; they will be published again", "events", len(seqs), "err", err)
			}
		}
	}()

	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	backoff := r.opts.Interval
	lastPrune := time.Now()
	var after int64 // the highest seq published, over an ordered source
	for {
		n, err := r.publishNext(ctx, m, &after)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.opts.Logger.WarnContext(ctx, "outbox relay", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = r.opts.Interval
		if n == r.opts.Batch {
			continue // more waiting
		}
		if r.opts.Prune != nil && time.Since(lastPrune) > time.Minute {
			lastPrune = time.Now()
			if err := r.opts.Prune(ctx, lastPrune); err != nil {
				r.opts.Logger.WarnContext(ctx, "outbox prune", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-tick.C:
		}
	}
}

const (
	// maxUnmarked bounds the batches published but not yet marked.
	maxUnmarked = 8
	// finalMarkWait bounds the last mark when Run stops.
	finalMarkWait = time.Second
)

// publishNext publishes the next batch of events that are neither marked
// nor waiting to be, hands their seqs to m and reports the batch's size.
// Over an ordered source it reads the rows after *after, and moves *after
// to the last seq it published.
func (r *Relay) publishNext(ctx context.Context, m *marker, after *int64) (int, error) {
	unmarked, err := m.room(ctx, maxUnmarked*r.opts.Batch, r.ordered == nil)
	if err != nil {
		return 0, err
	}
	var recs []Record
	if r.ordered != nil {
		recs, err = r.ordered.PendingAfter(ctx, *after, r.opts.Batch)
	} else {
		recs, err = r.src.Pending(ctx, r.opts.Batch+len(unmarked))
	}
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	evs := make([]events.Event, 0, min(len(recs), r.opts.Batch))
	seqs := make([]int64, 0, cap(evs))
	for _, rec := range recs {
		if _, ok := unmarked[rec.Seq]; ok || len(evs) == r.opts.Batch {
			continue
		}
		evs, seqs = append(evs, rec.Event), append(seqs, rec.Seq)
	}
	if len(evs) == 0 {
		return 0, nil
	}
	_ = r.opts.Faults.Hit(r.opts.Name + ".outbox.before_publish")
	if err := r.pub.PublishBatch(ctx, evs); err != nil {
		return 0, fmt.Errorf("publish %d events: %w", len(evs), err)
	}
	_ = r.opts.Faults.Hit(r.opts.Name + ".outbox.after_publish")
	m.add(seqs)
	*after = max(*after, seqs[len(seqs)-1])
	return len(evs), nil
}

// marker marks published rows in the background for Run.
type marker struct {
	src Source
	log *slog.Logger

	mu       sync.Mutex
	unmarked map[int64]struct{} // published, not yet marked
	queue    []int64            // of those, not yet handed to MarkPublished
	kick     chan struct{}      // cap 1: the queue grew
	progress chan struct{}      // cap 1: rows were marked
	// delay is how long a mark waits after the queue grew, so that what
	// is published meanwhile is marked in the same transaction.
	delay time.Duration
}

func newMarker(src Source, log *slog.Logger) *marker {
	return &marker{src: src, log: log, unmarked: map[int64]struct{}{}, kick: make(chan struct{}, 1), progress: make(chan struct{}, 1)}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// add queues seqs, just published, to be marked.
func (m *marker) add(seqs []int64) {
	m.mu.Lock()
	for _, s := range seqs {
		m.unmarked[s] = struct{}{}
	}
	m.queue = append(m.queue, seqs...)
	m.mu.Unlock()
	poke(m.kick)
}

// take returns the queued seqs and empties the queue.
func (m *marker) take() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queue
	m.queue = nil
	return q
}

// done records the outcome of marking seqs: forgotten when marked, queued
// again when not.
func (m *marker) done(seqs []int64, err error) {
	m.mu.Lock()
	if err != nil {
		m.queue = append(seqs, m.queue...)
	} else {
		for _, s := range seqs {
			delete(m.unmarked, s)
		}
	}
	m.mu.Unlock()
	if err == nil {
		poke(m.progress)
	}
}

// room waits until fewer than limit rows wait to be marked, then returns,
// if snapshot, a copy of the unmarked set: rows a read may still return,
// to be skipped.
func (m *marker) room(ctx context.Context, limit int, snapshot bool) (map[int64]struct{}, error) {
	for {
		m.mu.Lock()
		n := len(m.unmarked)
		var snap map[int64]struct{}
		if n < limit && snapshot {
			snap = maps.Clone(m.unmarked)
		}
		m.mu.Unlock()
		if n < limit {
			return snap, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.progress:
		}
	}
}

// run marks queued seqs until ctx ends, coalescing what queued up during a
// mark into the next one, and retries a failed mark with backoff.
func (m *marker) run(ctx context.Context, retry time.Duration) {
	wait := retry
	for {
		seqs := m.take()
		if len(seqs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-m.kick:
			}
			if m.delay > 0 {
				select {
				case <-ctx.Done():
					return // Run marks the queue as it stops
				case <-time.After(m.delay):
				}
			}
			continue
		}
		err := m.src.MarkPublished(ctx, seqs)
		m.done(seqs, err)
		if err == nil {
			wait = retry
			continue
		}
		if ctx.Err() != nil {
			return
		}
		m.log.WarnContext(ctx, "outbox mark published", "err", err, "events", len(seqs), "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Flush publishes one batch, marks it published and reports its size: Run's
// work done synchronously, for tests and tools. Beside a running Run it may
// publish events Run has published too (duplicates, dropped downstream).
func (r *Relay) Flush(ctx context.Context) (int, error) {
	recs, err := r.src.Pending(ctx, r.opts.Batch)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	evs := make([]events.Event, len(recs))
	seqs := make([]int64, len(recs))
	for i, rec := range recs {
		evs[i], seqs[i] = rec.Event, rec.Seq
	}
	_ = r.opts.Faults.Hit(r.opts.Name + ".outbox.before_publish")
	if err := r.pub.PublishBatch(ctx, evs); err != nil {
		return 0, fmt.Errorf("publish %d events: %w", len(evs), err)
	}
	_ = r.opts.Faults.Hit(r.opts.Name + ".outbox.after_publish")
	if err := r.src.MarkPublished(ctx, seqs); err != nil {
		return 0, err
	}
	return len(recs), nil
}
