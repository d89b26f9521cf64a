package warehouse

import (
	"context"
	"fmt"

	"github.com/souk/souk/platform/sqlstore"
)

// SeedTask writes in tx the task of a placed order, as the ORDER_PLACED
// consumer makes it, for a bulk seed (`souk seed`, tools/seed). It writes
// no inbox row: the event it stands for was consumed long ago and its row
// pruned. t.Status must be StatusPending (a shipped task needs its
// ORDER_SHIPPED). When the order has a task already, that one stays.
func (s *Store) SeedTask(ctx context.Context, tx *sqlstore.Tx, t Task) error {
	if t.Status != StatusPending {
		return fmt.Errorf("seed task %s: status %q, want %q", t.OrderID, t.Status, StatusPending)
	}
	return s.insert(ctx, tx, t)
}
