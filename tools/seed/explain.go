package seed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/sqlstore"
)

// Plan is the query plan and the timing of one hot query on a store.
type Plan struct {
	Service string   `json:"service"`
	Name    string   `json:"name"`
	Query   string   `json:"query"`
	Plan    []string `json:"plan"`
	// Rows is how many rows the query returned, on average over the runs.
	Rows float64 `json:"rows"`
	// Runs is how many times it ran, each with another sample's arguments.
	Runs     int     `json:"runs"`
	MedianUS float64 `json:"median_us"`
	P99US    float64 `json:"p99_us"`
	MaxUS    float64 `json:"max_us"`
	// TableScan is whether the plan reads a whole table (SQLite "SCAN t"
	// without an index, PostgreSQL "Seq Scan").
	TableScan bool `json:"table_scan"`
}

// sample is one existing order to ask about.
type sample struct {
	orderID, customerID, idemKey string
}

// hotQuery is a query on the path of checkout, my-orders or a background
// loop that runs all the time. The texts are those of the services' stores
// (services/*/store.go, platform/outbox): keep them in step.
type hotQuery struct {
	service, name, query string
	args                 func(s sample, now time.Time) []any
}

var hotQueries = []hotQuery{
	{"order", "list_by_customer (GET /orders)",
		`SELECT view, created_at, id FROM orders WHERE customer_id = ? AND 1 = 1 ORDER BY customer_id DESC, created_at DESC, id DESC LIMIT ?`,
		func(s sample, _ time.Time) []any { return []any{s.customerID, 21} }},
	{"order", "view_by_id (GET /orders/{id})",
		`SELECT view FROM orders WHERE id = ?`,
		func(s sample, _ time.Time) []any { return []any{s.orderID} }},
	{"order", "events_by_order (load, history)",
		`SELECT event_id, version, type, data, created_at FROM order_events WHERE order_id = ? ORDER BY version`,
		func(s sample, _ time.Time) []any { return []any{s.orderID} }},
	{"order", "idempotency_lookup (checkout)",
		`SELECT request_hash, body FROM idempotency WHERE scope = ? AND key = ?`,
		func(s sample, _ time.Time) []any { return []any{s.customerID, s.idemKey} }},
	{"order", "stalled_scan (recovery, every 2s)",
		`SELECT id FROM orders WHERE status = 'PENDING' AND lease_until < ? ORDER BY lease_until LIMIT ?`,
		func(_ sample, now time.Time) []any { return []any{now.UnixMilli(), 64} }},
	{"order", "relay_pending (outbox poll, every 100ms)",
		`SELECT seq, event_id, order_id, type, data, headers, created_at FROM order_events WHERE published_at IS NULL ORDER BY seq LIMIT ?`,
		func(sample, time.Time) []any { return []any{100} }},
	{"payment", "charge_by_order (charge)",
		`SELECT order_id, transaction_id, status, amount_cents, currency, decline_reason, last4, brand, created_at, updated_at FROM charges WHERE order_id = ?`,
		func(s sample, _ time.Time) []any { return []any{s.orderID} }},
	{"payment", "outbox_pending (outbox poll, every 100ms)",
		`SELECT seq, event_id, source, type, key, data, headers, created_at FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?`,
		func(sample, time.Time) []any { return []any{100} }},
	{"inventory", "reservation_by_order (reserve, commit)",
		`SELECT order_id, status, reason, expires_at, created_at, updated_at FROM reservations WHERE order_id = ?`,
		func(s sample, _ time.Time) []any { return []any{s.orderID} }},
	{"inventory", "due_sweep (expiry, every 5s)",
		`SELECT order_id FROM reservations WHERE status = 'reserved' AND expires_at <= ? ORDER BY order_id LIMIT ?`,
		func(_ sample, now time.Time) []any { return []any{now.UnixMilli(), 50} }},
	{"notification", "messages_by_user (my notifications)",
		`SELECT id, event_id, user_id, order_id, kind, to_email, subject, body, created_at FROM messages WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
		func(s sample, _ time.Time) []any { return []any{s.customerID, 20} }},
	{"auth", "credentials_by_email (login)",
		`SELECT id, email, name, role, created_at, password_hash FROM users WHERE email = ?`,
		func(_ sample, _ time.Time) []any { return []any{Email(1)} }},
}

// samplesWanted is how many orders Explain picks to vary the arguments.
const samplesWanted = 64

// Explain opens the store named by dsn as its services would (applying
// their pending migrations, so the plans are those the running system
// gets) and returns, for each hot query, its plan (EXPLAIN QUERY PLAN on
// SQLite, EXPLAIN on PostgreSQL) and its latency over runs runs, each with
// the arguments of another existing order. The system should be stopped,
// or the timings include its load. A database file that does not exist is
// an error; a query that fails is an error naming it.
func Explain(ctx context.Context, dsn func(service string) string, runs int) ([]Plan, error) {
	dbs := map[string]*sqlstore.DB{}
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
	}()
	get := func(svc string) (*sqlstore.DB, error) {
		if db, ok := dbs[svc]; ok {
			return db, nil
		}
		path := dsn(svc)
		if !strings.Contains(path, "://") {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("explain %s: %w", svc, err)
			}
		}
		db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: path, Name: svc, Migrations: migrations(svc)})
		if err != nil {
			return nil, fmt.Errorf("explain %s: %w", svc, err)
		}
		dbs[svc] = db
		return db, nil
	}
	odb, err := get("order")
	if err != nil {
		return nil, err
	}
	samples, err := pickSamples(ctx, odb)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []Plan
	for _, q := range hotQueries {
		db, err := get(q.service)
		if err != nil {
			return nil, err
		}
		p, err := explainOne(ctx, db, q, samples, now, runs)
		if err != nil {
			return nil, fmt.Errorf("explain %s %s: %w", q.service, q.name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// pickSamples returns up to samplesWanted orders spread over the store by
// id (UUIDv7, so by time), each with its customer and an Idempotency-Key
// of that customer when there is one. An empty store yields one sample of
// ids that match nothing.
func pickSamples(ctx context.Context, db *sqlstore.DB) ([]sample, error) {
	var lo, hi string
	err := db.QueryRow(ctx, `SELECT id FROM orders ORDER BY id LIMIT 1`).Scan(&lo)
	if errors.Is(err, sql.ErrNoRows) {
		return []sample{{orderID: uuid.NewString(), customerID: uuid.NewString(), idemKey: "none"}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("explain: sample orders: %w", err)
	}
	if err := db.QueryRow(ctx, `SELECT id FROM orders ORDER BY id DESC LIMIT 1`).Scan(&hi); err != nil {
		return nil, fmt.Errorf("explain: sample orders: %w", err)
	}
	loT, hiT := v7Time(lo), v7Time(hi)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	var out []sample
	for range samplesWanted * 2 {
		if len(out) == samplesWanted {
			break
		}
		at := loT
		if span := hiT.Sub(loT).Milliseconds(); span > 0 {
			at = loT.Add(time.Duration(rng.Int64N(span+1)) * time.Millisecond)
		}
		var s sample
		err := db.QueryRow(ctx, `SELECT id, customer_id FROM orders WHERE id >= ? ORDER BY id LIMIT 1`, uuidV7(at, rng)).Scan(&s.orderID, &s.customerID)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("explain: sample orders: %w", err)
		}
		if seen[s.orderID] {
			continue
		}
		seen[s.orderID] = true
		err = db.QueryRow(ctx, `SELECT key FROM idempotency WHERE scope = ? ORDER BY key LIMIT 1`, s.customerID).Scan(&s.idemKey)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("explain: sample keys: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// v7Time is the time in a UUIDv7 (the zero time for anything else).
func v7Time(id string) time.Time {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}
	}
	sec, nsec := u.Time().UnixTime()
	return time.Unix(sec, nsec)
}

func explainOne(ctx context.Context, db *sqlstore.DB, q hotQuery, samples []sample, now time.Time, runs int) (Plan, error) {
	p := Plan{Service: q.service, Name: q.name, Query: q.query, Runs: runs}
	var err error
	if p.Plan, err = plan(ctx, db, q.query, q.args(samples[0], now)); err != nil {
		return Plan{}, err
	}
	for _, line := range p.Plan {
		line = strings.TrimSpace(line)
		if (strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, " USING ")) || strings.Contains(line, "Seq Scan") {
			p.TableScan = true
		}
	}
	times := make([]time.Duration, 0, runs)
	rows := 0
	for i := range runs {
		t0 := time.Now()
		n, err := count(ctx, db, q.query, q.args(samples[i%len(samples)], now))
		if err != nil {
			return Plan{}, err
		}
		times = append(times, time.Since(t0))
		rows += n
	}
	slices.Sort(times)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	p.MedianUS = us(times[len(times)/2])
	p.P99US = us(times[min(len(times)-1, len(times)*99/100)])
	p.MaxUS = us(times[len(times)-1])
	p.Rows = float64(rows) / float64(runs)
	return p, nil
}

// plan returns the engine's plan of query, one line per step.
func plan(ctx context.Context, db *sqlstore.DB, query string, args []any) ([]string, error) {
	prefix := "EXPLAIN QUERY PLAN "
	if db.Dialect() == sqlstore.Postgres {
		prefix = "EXPLAIN "
	}
	rows, err := db.Query(ctx, prefix+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		// SQLite: id, parent, notused, detail; PostgreSQL: one text column.
		out = append(out, fmt.Sprint(vals[len(vals)-1]))
	}
	return out, rows.Err()
}

// count runs query and reads every row, returning how many there were.
func count(ctx context.Context, db *sqlstore.DB, query string, args []any) (int, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		n++
	}
	return n, rows.Err()
}

// WritePlans prints plans as a table followed by each plan.
func WritePlans(w io.Writer, plans []Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tQUERY\tROWS\tMEDIAN µs\tP99 µs\tMAX µs\tTABLE SCAN")
	for _, p := range plans {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.0f\t%.0f\t%.0f\t%v\n", p.Service, p.Name, p.Rows, p.MedianUS, p.P99US, p.MaxUS, p.TableScan)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range plans {
		fmt.Fprintf(w, "\n%s %s\n  %s\n", p.Service, p.Name, p.Query)
		for _, line := range p.Plan {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
	return nil
}
