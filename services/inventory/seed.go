package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// SeedCommitted writes in tx a reservation that was made and committed, as
// Reserve then Commit leave it, for a bulk seed (`souk seed`,
// tools/seed): its row (status committed) and its items. It does not move
// stock: the caller books the units sold with SeedSold in the same
// transaction, so that stock and reservations agree. r.Items must name
// each product once. An order that has a reservation already is an error;
// the caller's transaction is then to be rolled back.
func (st *Store) SeedCommitted(ctx context.Context, tx *sqlstore.Tx, r Reservation) error {
	r.Status, r.Reason = StatusCommitted, ""
	inserted, err := st.insertReservation(ctx, tx, r)
	if err != nil {
		return fmt.Errorf("seed reservation %s: %w", r.OrderID, err)
	}
	if !inserted {
		return fmt.Errorf("seed reservation %s: the order has a reservation already", r.OrderID)
	}
	if err := st.insertItems(ctx, tx, r.OrderID, r.Items); err != nil {
		return fmt.Errorf("seed reservation %s: %w", r.OrderID, err)
	}
	return nil
}

// SeedSold books in tx units of productID sold by seeded orders: initial
// and sold both grow by units, so available and reserved stay as they are
// and initial + restocked = available + reserved + sold still holds. A
// product without a stock row gets one with initial stock initial (the
// same row Seed would make) plus units.
func (st *Store) SeedSold(ctx context.Context, tx *sqlstore.Tx, productID string, initial, units int64, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO stock (product_id, initial, restocked, available, reserved, sold, updated_at)
VALUES (?, ?, 0, ?, 0, ?, ?)
ON CONFLICT (product_id) DO UPDATE SET
    initial    = stock.initial + excluded.sold,
    sold       = stock.sold + excluded.sold,
    updated_at = excluded.updated_at`, productID, initial+units, initial, units, ms(now))
	if err != nil {
		return fmt.Errorf("seed sold %s: %w", productID, err)
	}
	return nil
}
