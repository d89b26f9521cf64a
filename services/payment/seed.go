package payment

import (
	"context"
	"fmt"

	"github.com/souk/souk/platform/sqlstore"
)

// SeedCaptured writes in tx a charge captured in full, as Charge leaves
// one, for a bulk seed (`souk seed`, tools/seed): the charges row and its
// ledger capture, both stamped c.CreatedAt and c.UpdatedAt. It writes no
// PAYMENT_CAPTURED to the outbox: a long-settled capture's event has been
// published and pruned. c.Status must be StatusCaptured. An order that has
// a charge already is an error; the caller's transaction is then to be
// rolled back.
func (s *Store) SeedCaptured(ctx context.Context, tx *sqlstore.Tx, c Charge) error {
	if c.Status != StatusCaptured {
		return fmt.Errorf("seed charge %s: status %q, want %q", c.OrderID, c.Status, StatusCaptured)
	}
	inserted, err := s.insertCharge(ctx, tx, c)
	if err != nil {
		return fmt.Errorf("seed charge %s: %w", c.OrderID, err)
	}
	if !inserted {
		return fmt.Errorf("seed charge %s: the order has a charge already", c.OrderID)
	}
	if err := s.addLedger(ctx, tx, c, "capture", c.UpdatedAt); err != nil {
		return fmt.Errorf("seed charge %s: %w", c.OrderID, err)
	}
	return nil
}
