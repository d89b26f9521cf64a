package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
)

// The inventory service publishes no events; it consumes one.

// EventOrderCancelled is the order service's event the inventory consumes.
const EventOrderCancelled = "ORDER_CANCELLED"

// ConsumerOrderCancelled names the durable consumer of ORDER_CANCELLED,
// shared by every inventory instance, and its inbox.
const ConsumerOrderCancelled = "inventory-order-cancelled"

func orderCancelledConsumer() events.ConsumerConfig {
	return events.ConsumerConfig{
		Durable: ConsumerOrderCancelled,
		Stream:  "order",
		Subject: events.SubjectOf("order", EventOrderCancelled),
	}
}

// orderCancelled is the part of ORDER_CANCELLED's data the inventory reads.
type orderCancelled struct {
	OrderID string `json:"order_id"`
}

// OrderCancelledHandler returns the handler of ORDER_CANCELLED: it releases
// the order's reservation (reason cancelled) if it still holds stock, or
// leaves a tombstone if there is none yet, in the transaction that records
// the event in the inbox, so a redelivered event has one effect. A
// committed reservation stays committed: a cancelled order whose stock was
// sold is the order service's to refund, not ours to restock. A malformed
// event is dead-lettered at once.
func (s *Service) OrderCancelledHandler(log *slog.Logger) events.Handler {
	return func(ctx context.Context, ev events.Event) error {
		var d orderCancelled
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return events.Permanent(fmt.Errorf("order cancelled %s: bad data: %w", ev.ID, err))
		}
		if !ValidID(d.OrderID) {
			return events.Permanent(fmt.Errorf("order cancelled %s: bad order_id %q", ev.ID, d.OrderID))
		}
		now := s.clock()
		committed := false
		err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
			committed = false
			first, err := tx.Inbox(ctx, ConsumerOrderCancelled, ev.ID)
			if err != nil || !first {
				return err
			}
			_, err = s.release(ctx, tx, d.OrderID, ReasonCancelled, now)
			if fault.HasCode(err, "already_committed") {
				committed = true
				return nil // nothing to release; keep the inbox row
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("order cancelled %s: %w", d.OrderID, err)
		}
		if committed {
			log.WarnContext(ctx, "cancelled order has committed stock; left as sold", "order_id", d.OrderID, "event_id", ev.ID)
		}
		return nil
	}
}
