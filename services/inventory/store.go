package inventory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// Store is the inventory service's SQL. Methods that take a querier run in
// the caller's transaction; the others read the last committed state.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

// querier is what both *sqlstore.DB and *sqlstore.Tx offer.
type querier interface {
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func ms(t time.Time) int64     { return t.UnixMilli() }
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// execN runs a statement and returns how many rows it changed.
func execN(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	res, err := q.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// seed inserts the stock of each product that has no row yet.
func (st *Store) seed(ctx context.Context, tx *sqlstore.Tx, stock []InitialStock, now time.Time) error {
	for _, s := range stock {
		if _, err := tx.Exec(ctx, `INSERT INTO stock (product_id, initial, restocked, available, reserved, sold, updated_at)
VALUES (?, ?, 0, ?, 0, 0, ?) ON CONFLICT (product_id) DO NOTHING`, s.ProductID, s.Quantity, s.Quantity, ms(now)); err != nil {
			return fmt.Errorf("seed %s: %w", s.ProductID, err)
		}
	}
	return nil
}

// insertReservation inserts r's row (not its items) unless the order has
// one already; inserted reports which. On PostgreSQL a concurrent insert of
// the same order makes this wait for that transaction to end.
func (st *Store) insertReservation(ctx context.Context, tx *sqlstore.Tx, r Reservation) (inserted bool, err error) {
	n, err := execN(ctx, tx, `INSERT INTO reservations (order_id, status, reason, expires_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING`,
		r.OrderID, r.Status, r.Reason, ms(r.ExpiresAt), ms(r.CreatedAt), ms(r.UpdatedAt))
	if err != nil {
		return false, fmt.Errorf("insert reservation %s: %w", r.OrderID, err)
	}
	return n == 1, nil
}

func (st *Store) insertItems(ctx context.Context, tx *sqlstore.Tx, orderID string, items []Item) error {
	for _, it := range items {
		if _, err := tx.Exec(ctx, `INSERT INTO reservation_items (order_id, product_id, quantity) VALUES (?, ?, ?)`,
			orderID, it.ProductID, it.Quantity); err != nil {
			return fmt.Errorf("insert reservation item %s/%s: %w", orderID, it.ProductID, err)
		}
	}
	return nil
}

// take moves it.Quantity units of it.ProductID from available to reserved
// if that many are available; ok is false, and nothing changed, otherwise.
// The condition is in the UPDATE itself, so concurrent takes of the last
// units cannot both succeed: on PostgreSQL the second waits for the row lock
// and re-checks the condition against the committed row.
func (st *Store) take(ctx context.Context, tx *sqlstore.Tx, it Item, now time.Time) (ok bool, err error) {
	n, err := execN(ctx, tx, `UPDATE stock SET available = available - ?, reserved = reserved + ?, updated_at = ?
WHERE product_id = ? AND available >= ?`, it.Quantity, it.Quantity, ms(now), it.ProductID, it.Quantity)
	if err != nil {
		return false, fmt.Errorf("take %s: %w", it.ProductID, err)
	}
	return n == 1, nil
}

// stocked reports whether productID has a stock row.
func (st *Store) stocked(ctx context.Context, q querier, productID string) (bool, error) {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM stock WHERE product_id = ?`, productID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stock %s: %w", productID, err)
	}
	return true, nil
}

// Where settled reserved units go.
const (
	toSold      = `UPDATE stock SET reserved = reserved - ?, sold = sold + ?, updated_at = ? WHERE product_id = ? AND reserved >= ?`
	toAvailable = `UPDATE stock SET reserved = reserved - ?, available = available + ?, updated_at = ? WHERE product_id = ? AND reserved >= ?`
)

// settle moves the reserved units of items with the statement to (toSold or
// toAvailable). items must be merged (one entry per product, sorted), so
// that rows are locked in product id order. A product that does not hold
// the units reserved breaks the invariant: settle fails rather than
// committing more damage.
func (st *Store) settle(ctx context.Context, tx *sqlstore.Tx, to string, items []Item, now time.Time) error {
	for _, it := range items {
		n, err := execN(ctx, tx, to, it.Quantity, it.Quantity, ms(now), it.ProductID, it.Quantity)
		if err != nil {
			return fmt.Errorf("settle %s: %w", it.ProductID, err)
		}
		if n != 1 {
			return fmt.Errorf("settle %s: fewer than %d units reserved: stock and reservations disagree", it.ProductID, it.Quantity)
		}
	}
	return nil
}

// leave moves orderID's reservation from reserved to status (with reason);
// moved is false when it was not reserved (or does not exist). With
// dueBy set, only a reservation that expired by then moves. The condition
// makes concurrent commits, releases and sweeps of one reservation exclusive:
// exactly one of them moves it.
func (st *Store) leave(ctx context.Context, tx *sqlstore.Tx, orderID, status, reason string, now time.Time, dueBy *time.Time) (moved bool, err error) {
	q := `UPDATE reservations SET status = ?, reason = ?, updated_at = ? WHERE order_id = ? AND status = 'reserved'`
	args := []any{status, reason, ms(now), orderID}
	if dueBy != nil {
		q += ` AND expires_at <= ?`
		args = append(args, ms(*dueBy))
	}
	n, err := execN(ctx, tx, q, args...)
	if err != nil {
		return false, fmt.Errorf("move reservation %s to %s: %w", orderID, status, err)
	}
	return n == 1, nil
}

// reservation returns orderID's reservation with its items; found is false
// when there is none.
func (st *Store) reservation(ctx context.Context, q querier, orderID string) (r Reservation, found bool, err error) {
	var expires, created, updated int64
	err = q.QueryRow(ctx, `SELECT order_id, status, reason, expires_at, created_at, updated_at FROM reservations WHERE order_id = ?`, orderID).
		Scan(&r.OrderID, &r.Status, &r.Reason, &expires, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, false, nil
	}
	if err != nil {
		return Reservation{}, false, fmt.Errorf("get reservation %s: %w", orderID, err)
	}
	r.ExpiresAt, r.CreatedAt, r.UpdatedAt = fromMS(expires), fromMS(created), fromMS(updated)
	if r.Items, err = st.items(ctx, q, orderID); err != nil {
		return Reservation{}, false, err
	}
	return r, true, nil
}

// items returns orderID's reserved items in product id order.
func (st *Store) items(ctx context.Context, q querier, orderID string) ([]Item, error) {
	rows, err := q.Query(ctx, `SELECT product_id, quantity FROM reservation_items WHERE order_id = ? ORDER BY product_id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("reservation items %s: %w", orderID, err)
	}
	defer rows.Close()
	out := []Item{}
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.ProductID, &it.Quantity); err != nil {
			return nil, fmt.Errorf("reservation items %s: %w", orderID, err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reservation items %s: %w", orderID, err)
	}
	return out, nil
}

// due returns up to limit order ids whose reservation is still reserved
// but expired by now, in order id order: the order the sweep locks them in.
func (st *Store) due(ctx context.Context, tx *sqlstore.Tx, now time.Time, limit int) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT order_id FROM reservations WHERE status = 'reserved' AND expires_at <= ? ORDER BY order_id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("due reservations: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("due reservations: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due reservations: %w", err)
	}
	return ids, nil
}

// setAvailable sets productID's available units to n in one statement,
// booking the difference as restocked so the invariant holds; a product
// without a row gets one with initial 0.
func (st *Store) setAvailable(ctx context.Context, tx *sqlstore.Tx, productID string, n int64, now time.Time) (StockView, error) {
	v := StockView{ProductID: productID}
	err := tx.QueryRow(ctx, `INSERT INTO stock (product_id, initial, restocked, available, reserved, sold, updated_at)
VALUES (?, 0, ?, ?, 0, 0, ?)
ON CONFLICT (product_id) DO UPDATE SET
    restocked  = stock.restocked + excluded.available - stock.available,
    available  = excluded.available,
    updated_at = excluded.updated_at
RETURNING available, reserved, sold`, productID, n, n, ms(now)).Scan(&v.Available, &v.Reserved, &v.Sold)
	if err != nil {
		return StockView{}, fmt.Errorf("set stock %s: %w", productID, err)
	}
	return v, nil
}

// level returns productID's available units; found is false for an
// unknown product.
func (st *Store) level(ctx context.Context, productID string) (l Level, found bool, err error) {
	l.ProductID = productID
	err = st.db.QueryRow(ctx, `SELECT available FROM stock WHERE product_id = ?`, productID).Scan(&l.Available)
	if errors.Is(err, sql.ErrNoRows) {
		return Level{}, false, nil
	}
	if err != nil {
		return Level{}, false, fmt.Errorf("stock %s: %w", productID, err)
	}
	return l, true, nil
}

// levels returns the available units of the known products among ids
// (which must be distinct), in product id order.
func (st *Store) levels(ctx context.Context, ids []string) ([]Level, error) {
	out := []Level{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	rows, err := st.db.Query(ctx, `SELECT product_id, available FROM stock WHERE product_id IN (`+marks+`) ORDER BY product_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("stock levels: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l Level
		if err := rows.Scan(&l.ProductID, &l.Available); err != nil {
			return nil, fmt.Errorf("stock levels: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stock levels: %w", err)
	}
	return out, nil
}

// auditStock returns up to limit stock rows after the product id after.
func (st *Store) auditStock(ctx context.Context, after string, limit int) ([]Stock, error) {
	rows, err := st.db.Query(ctx, `SELECT product_id, initial, restocked, available, reserved, sold FROM stock
WHERE product_id > ? ORDER BY product_id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit stock: %w", err)
	}
	defer rows.Close()
	out := []Stock{}
	for rows.Next() {
		var s Stock
		if err := rows.Scan(&s.ProductID, &s.Initial, &s.Restocked, &s.Available, &s.Reserved, &s.Sold); err != nil {
			return nil, fmt.Errorf("audit stock: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit stock: %w", err)
	}
	return out, nil
}

// auditReservations returns up to limit reservations after the order id
// after, with their items. The items are read by the page's key range in a
// second query: a reservation's items are committed with it and never
// change, so every reservation of the page finds all of its own.
func (st *Store) auditReservations(ctx context.Context, after string, limit int) ([]ReservationAudit, error) {
	rows, err := st.db.Query(ctx, `SELECT order_id, status, reason FROM reservations WHERE order_id > ? ORDER BY order_id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit reservations: %w", err)
	}
	out := []ReservationAudit{}
	index := map[string]int{}
	for rows.Next() {
		r := ReservationAudit{Items: []Item{}}
		if err := rows.Scan(&r.OrderID, &r.Status, &r.Reason); err != nil {
			rows.Close()
			return nil, fmt.Errorf("audit reservations: %w", err)
		}
		index[r.OrderID] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit reservations: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}

	rows, err = st.db.Query(ctx, `SELECT order_id, product_id, quantity FROM reservation_items
WHERE order_id > ? AND order_id <= ? ORDER BY order_id, product_id`, after, out[len(out)-1].OrderID)
	if err != nil {
		return nil, fmt.Errorf("audit reservation items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var orderID string
		var it Item
		if err := rows.Scan(&orderID, &it.ProductID, &it.Quantity); err != nil {
			return nil, fmt.Errorf("audit reservation items: %w", err)
		}
		if i, ok := index[orderID]; ok { // a reservation newer than the page is not on it
			out[i].Items = append(out[i].Items, it)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit reservation items: %w", err)
	}
	return out, nil
}
