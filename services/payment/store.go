package payment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// Store is the payment service's SQL.
type Store struct {
	db *sqlstore.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlstore.DB) *Store { return &Store{db: db} }

// querier is what both *sqlstore.DB and *sqlstore.Tx offer.
type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
}

const chargeColumns = `order_id, transaction_id, status, amount_cents, currency, decline_reason, last4, brand, created_at, updated_at`

func scanCharge(row interface{ Scan(...any) error }) (Charge, error) {
	var c Charge
	var created, updated int64
	err := row.Scan(&c.OrderID, &c.TransactionID, &c.Status, &c.AmountCents, &c.Currency, &c.DeclineReason, &c.Last4, &c.Brand, &created, &updated)
	c.CreatedAt, c.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return c, err
}

// charge returns the charge of orderID; found is false when there is none.
func (s *Store) charge(ctx context.Context, q querier, orderID string) (c Charge, found bool, err error) {
	c, err = scanCharge(q.QueryRow(ctx, `SELECT `+chargeColumns+` FROM charges WHERE order_id = ?`, orderID))
	if errors.Is(err, sql.ErrNoRows) {
		return Charge{}, false, nil
	}
	if err != nil {
		return Charge{}, false, fmt.Errorf("get charge %s: %w", orderID, err)
	}
	return c, true, nil
}

// insertCharge inserts c unless the order has a charge already (a
// concurrent request won); inserted reports which.
func (s *Store) insertCharge(ctx context.Context, q querier, c Charge) (inserted bool, err error) {
	res, err := q.Exec(ctx, `INSERT INTO charges (`+chargeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING`,
		c.OrderID, c.TransactionID, c.Status, c.AmountCents, c.Currency, c.DeclineReason, c.Last4, c.Brand, c.CreatedAt.UnixMilli(), c.UpdatedAt.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("insert charge %s: %w", c.OrderID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *Store) setStatus(ctx context.Context, q querier, orderID, status string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE charges SET status = ?, updated_at = ? WHERE order_id = ?`, status, now.UnixMilli(), orderID)
	if err != nil {
		return fmt.Errorf("update charge %s: %w", orderID, err)
	}
	return nil
}

func (s *Store) addLedger(ctx context.Context, q querier, c Charge, kind string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO ledger (order_id, transaction_id, kind, amount_cents, currency, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.OrderID, c.TransactionID, kind, c.AmountCents, c.Currency, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("ledger %s %s: %w", kind, c.OrderID, err)
	}
	return nil
}

// Get returns the charge of orderID, or found false.
func (s *Store) Get(ctx context.Context, orderID string) (Charge, bool, error) {
	return s.charge(ctx, s.db, orderID)
}

// Audit returns up to limit orders after the cursor, in order id order,
// with their money summed from the ledger.
func (s *Store) Audit(ctx context.Context, after string, limit int) ([]Audit, error) {
	rows, err := s.db.Query(ctx, `
SELECT c.order_id, c.status, c.currency,
       COALESCE(SUM(CASE WHEN l.kind = 'capture' THEN l.amount_cents END), 0),
       COALESCE(SUM(CASE WHEN l.kind = 'refund' THEN l.amount_cents END), 0),
       COUNT(CASE WHEN l.kind = 'capture' THEN 1 END),
       COUNT(CASE WHEN l.kind = 'refund' THEN 1 END)
FROM charges c LEFT JOIN ledger l ON l.order_id = c.order_id
WHERE c.order_id > ?
GROUP BY c.order_id, c.status, c.currency
ORDER BY c.order_id
LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	out := []Audit{}
	for rows.Next() {
		var a Audit
		if err := rows.Scan(&a.OrderID, &a.Status, &a.Currency, &a.CapturedCents, &a.RefundedCents, &a.Captures, &a.Refunds); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
