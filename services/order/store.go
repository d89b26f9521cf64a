package order

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/sqlstore"
)

// Store is the order service's event store and read model.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

// errVersionConflict means another writer appended to the order first.
var errVersionConflict = errors.New("order version conflict")

type queryer interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

// Events returns the events of orderID, oldest first.
func (s *Store) Events(ctx context.Context, orderID string) ([]Event, error) {
	return s.events(ctx, s.db, orderID)
}

func (s *Store) events(ctx context.Context, q queryer, orderID string) ([]Event, error) {
	rows, err := q.Query(ctx, `SELECT event_id, version, type, data, created_at FROM order_events WHERE order_id = ? ORDER BY version`, orderID)
	if err != nil {
		return nil, fmt.Errorf("load order %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{OrderID: orderID}
		var data string
		var at int64
		if err := rows.Scan(&e.ID, &e.Version, &e.Type, &data, &at); err != nil {
			return nil, fmt.Errorf("load order %s: %w", orderID, err)
		}
		e.Data, e.Time = json.RawMessage(data), time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Load returns the order folded from its events: fault.NotFound when it has
// none.
func (s *Store) Load(ctx context.Context, orderID string) (Order, error) {
	evs, err := s.Events(ctx, orderID)
	if err != nil {
		return Order{}, err
	}
	if len(evs) == 0 {
		return Order{}, fault.NotFoundf("no order %s", orderID)
	}
	return Fold(evs)
}

// pending is an event to append.
type pending struct {
	typ  string
	data any
}

// Append adds evs to o in one transaction, expecting o.Version to be the
// stored version, and updates the read model and the saga lease. It
// returns the new state. errVersionConflict means another writer won.
func (s *Store) Append(ctx context.Context, o Order, lease time.Time, now time.Time, evs ...pending) (Order, error) {
	var next Order
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		var err error
		next, err = s.append(ctx, tx, o, lease, now, evs...)
		return err
	})
	return next, err
}

func (s *Store) append(ctx context.Context, tx *sqlstore.Tx, o Order, lease time.Time, now time.Time, evs ...pending) (Order, error) {
	next := o
	next.Items = append([]Item(nil), o.Items...)
	headers := ""
	if h := outbox.ContextHeaders(ctx, nil); len(h) > 0 {
		b, err := json.Marshal(h)
		if err != nil {
			return Order{}, err
		}
		headers = string(b)
	}
	for _, p := range evs {
		data, err := json.Marshal(p.data)
		if err != nil {
			return Order{}, fmt.Errorf("encode %s: %w", p.typ, err)
		}
		e := Event{ID: newEventID(), OrderID: o.ID, Version: next.Version + 1, Type: p.typ, Data: data, Time: now}
		if p.typ == EventCreated {
			e.OrderID = createdID(p.data)
		}
		if err := next.Apply(e); err != nil {
			return Order{}, err
		}
		// Only the lifecycle events other services act on leave through the
		// relay; the saga's own steps are recorded as published already.
		var published any
		if !Published[e.Type] {
			published = now.UnixMilli()
		}
		_, err = tx.Exec(ctx, `INSERT INTO order_events (event_id, order_id, version, type, data, headers, created_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.OrderID, e.Version, e.Type, string(data), headers, now.UnixMilli(), published)
		if sqlstore.IsUniqueViolation(err) {
			return Order{}, errVersionConflict
		}
		if err != nil {
			return Order{}, fmt.Errorf("append %s to %s: %w", e.Type, e.OrderID, err)
		}
	}
	view, err := json.Marshal(next)
	if err != nil {
		return Order{}, err
	}
	leaseMs := lease.UnixMilli()
	if next.Terminal() {
		leaseMs = 0
	}
	if o.Version == 0 {
		_, err = tx.Exec(ctx, `INSERT INTO orders (id, customer_id, status, step, total_cents, currency, version, view, created_at, updated_at, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			next.ID, next.CustomerID, next.Status, next.Step, next.TotalCents, next.Currency, next.Version, string(view), next.CreatedAt.UnixMilli(), now.UnixMilli(), leaseMs)
	} else {
		var res sql.Result
		res, err = tx.Exec(ctx, `UPDATE orders SET status = ?, step = ?, version = ?, view = ?, updated_at = ?, lease_until = ? WHERE id = ? AND version = ?`,
			next.Status, next.Step, next.Version, string(view), now.UnixMilli(), leaseMs, next.ID, o.Version)
		if err == nil {
			if n, _ := res.RowsAffected(); n != 1 {
				return Order{}, errVersionConflict
			}
		}
	}
	if err != nil {
		return Order{}, fmt.Errorf("update read model %s: %w", next.ID, err)
	}
	return next, nil
}

func createdID(data any) string {
	if c, ok := data.(Created); ok {
		return c.OrderID
	}
	return ""
}

// View returns the read model of orderID: fault.NotFound when absent.
func (s *Store) View(ctx context.Context, orderID string) (Order, error) {
	var view string
	err := s.db.QueryRow(ctx, `SELECT view FROM orders WHERE id = ?`, orderID).Scan(&view)
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, fault.NotFoundf("no order %s", orderID)
	}
	if err != nil {
		return Order{}, fmt.Errorf("get order %s: %w", orderID, err)
	}
	var o Order
	if err := json.Unmarshal([]byte(view), &o); err != nil {
		return Order{}, fmt.Errorf("get order %s: %w", orderID, err)
	}
	return o, nil
}

// Page is one page of orders, newest first.
type Page struct {
	Items      []Order `json:"items"`
	NextCursor string  `json:"next_cursor"`
}

// List returns up to limit orders of customerID (all customers when
// empty) created before the cursor position, newest first.
func (s *Store) List(ctx context.Context, customerID string, before cursor, limit int) (Page, error) {
	q := `SELECT view, created_at, id FROM orders WHERE `
	var args []any
	if customerID != "" {
		q += `customer_id = ? AND `
		args = append(args, customerID)
	}
	if before.set() {
		q += `(created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, before.createdAt, before.createdAt, before.id)
	} else {
		q += `1 = 1`
	}
	if customerID != "" {
		q += ` ORDER BY customer_id DESC, created_at DESC, id DESC LIMIT ?`
	} else {
		q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	}
	args = append(args, limit+1)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	page := Page{Items: []Order{}}
	var last cursor
	for rows.Next() {
		var view string
		var c cursor
		if err := rows.Scan(&view, &c.createdAt, &c.id); err != nil {
			return Page{}, fmt.Errorf("list orders: %w", err)
		}
		if len(page.Items) == limit {
			page.NextCursor = last.String()
			break
		}
		var o Order
		if err := json.Unmarshal([]byte(view), &o); err != nil {
			return Page{}, fmt.Errorf("list orders: %w", err)
		}
		page.Items = append(page.Items, o)
		last = c
	}
	return page, rows.Err()
}

// Claim takes the saga lease of orderID until lease if it is free at now.
func (s *Store) Claim(ctx context.Context, orderID string, now, lease time.Time) (bool, error) {
	res, err := s.db.Exec(ctx, `UPDATE orders SET lease_until = ? WHERE id = ? AND status = ? AND lease_until < ?`,
		lease.UnixMilli(), orderID, StatusPending, now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", orderID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Stalled returns up to limit PENDING orders whose lease ran out by now.
//
// The status is written as a literal, not bound: it matches the partial
// index orders_pending (WHERE status = 'PENDING') on both engines, also
// under a PostgreSQL generic plan, which cannot prove that a parameter
// equals 'PENDING' and would scan every order at each recovery tick.
func (s *Store) Stalled(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM orders WHERE status = '`+StatusPending+`' AND lease_until < ? ORDER BY lease_until LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("stalled orders: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// AuditRow is one order as the audit sees it.
type AuditRow struct {
	OrderID    string    `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Status     string    `json:"status"`
	Step       string    `json:"step"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
	Items      []Item    `json:"items"`
	Code       string    `json:"cancel_code,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Audit pages through every order by id.
func (s *Store) Audit(ctx context.Context, after string, limit int) ([]AuditRow, error) {
	rows, err := s.db.Query(ctx, `SELECT step, view FROM orders WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit orders: %w", err)
	}
	defer rows.Close()
	out := []AuditRow{}
	for rows.Next() {
		var step, view string
		if err := rows.Scan(&step, &view); err != nil {
			return nil, fmt.Errorf("audit orders: %w", err)
		}
		var o Order
		if err := json.Unmarshal([]byte(view), &o); err != nil {
			return nil, fmt.Errorf("audit orders: %w", err)
		}
		out = append(out, AuditRow{OrderID: o.ID, CustomerID: o.CustomerID, Status: o.Status, Step: step, TotalCents: o.TotalCents, Currency: o.Currency, Items: o.Items, Code: o.Code, UpdatedAt: o.UpdatedAt})
	}
	return out, rows.Err()
}

// Idempotency records.

// idemRecord is what an Idempotency-Key maps to: the order it created.
type idemRecord struct {
	fingerprint string
	orderID     string
}

func (s *Store) idempotency(ctx context.Context, q queryer, scope, key string) (idemRecord, bool, error) {
	var r idemRecord
	err := q.QueryRow(ctx, `SELECT request_hash, body FROM idempotency WHERE scope = ? AND key = ?`, scope, key).Scan(&r.fingerprint, &r.orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("idempotency key: %w", err)
	}
	return r, true, nil
}

// Create appends ORDER_CREATED for a new order and, when key is set,
// records the Idempotency-Key in the same transaction. If the key exists
// already (a concurrent request won), it returns that record and
// created=false.
func (s *Store) Create(ctx context.Context, c Created, scope, key, fingerprint string, lease, now time.Time) (o Order, existing idemRecord, created bool, err error) {
	err = s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		created = false
		if key != "" {
			rec, found, err := s.idempotency(ctx, tx, scope, key)
			if err != nil {
				return err
			}
			if found {
				existing = rec
				return nil
			}
			// ON CONFLICT: on PostgreSQL a concurrent request with the same
			// key may insert between our read and our insert; ours then
			// waits for it, inserts nothing, and reads its row below, where
			// a plain INSERT would fail with a unique violation.
			res, err := tx.Exec(ctx, `INSERT INTO idempotency (scope, key, request_hash, status, body, created_at) VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (scope, key) DO NOTHING`,
				scope, key, fingerprint, c.OrderID, now.UnixMilli())
			if err != nil {
				return fmt.Errorf("idempotency key: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("idempotency key: %w", err)
			}
			if n == 0 {
				rec, found, err := s.idempotency(ctx, tx, scope, key)
				if err != nil {
					return err
				}
				if !found {
					return fmt.Errorf("idempotency key %q: taken by a request whose row cannot be read", key)
				}
				existing = rec
				return nil
			}
		}
		var err error
		o, err = s.append(ctx, tx, Order{}, lease, now, pending{EventCreated, c})
		created = err == nil
		return err
	})
	return o, existing, created, err
}

// Source relays the event store to the broker: it is the order service's
// outbox.
type Source struct{ db *sqlstore.DB }

// Pending implements outbox.Source.
func (s Source) Pending(ctx context.Context, limit int) ([]outbox.Record, error) {
	return s.PendingAfter(ctx, 0, limit)
}

// Ordered implements outbox.OrderedSource: true on SQLite. Events are
// never deleted, so a seq never goes back.
func (s Source) Ordered() bool { return s.db.Dialect() == sqlstore.SQLite }

// PendingAfter implements outbox.OrderedSource.
func (s Source) PendingAfter(ctx context.Context, after int64, limit int) ([]outbox.Record, error) {
	recs, err := outbox.ReadRecords(ctx, s.db, `SELECT seq, event_id, 'order', type, order_id, data, headers, created_at FROM order_events WHERE published_at IS NULL AND seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("unpublished order events: %w", err)
	}
	return recs, nil
}

// MarkPublished implements outbox.Source.
func (s Source) MarkPublished(ctx context.Context, seqs []int64) error {
	return outbox.MarkPublishedIn(ctx, s.db, "order_events", "seq", seqs)
}

var _ outbox.OrderedSource = Source{}

func newEventID() string { return uuid.Must(uuid.NewV7()).String() }
