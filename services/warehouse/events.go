package warehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/sqlstore"
)

// EventShipped is the event the warehouse publishes.
const EventShipped = "ORDER_SHIPPED"

// ConsumerOrderPlaced is the durable consumer of ORDER_PLACED and its name
// in the inbox.
const ConsumerOrderPlaced = "warehouse-order-placed"

// Shipped is the data of ORDER_SHIPPED.
type Shipped struct {
	OrderID    string    `json:"order_id"`
	TaskID     string    `json:"task_id"`
	CustomerID string    `json:"customer_id"`
	Email      string    `json:"email"`
	ShippedAt  time.Time `json:"shipped_at"`
}

// OrderPlaced is the part of ORDER_PLACED the warehouse reads. Unknown
// fields (prices, totals) are ignored, so the order service may add some.
type OrderPlaced struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Email      string `json:"email"`
	Items      []Item `json:"items"`
}

// validate reports a placed order no task can be made for.
func (p OrderPlaced) validate() error {
	switch {
	case p.OrderID == "" || len(p.OrderID) > maxID:
		return errors.New("order_id must be 1 to 64 characters")
	case p.CustomerID == "" || len(p.CustomerID) > maxID:
		return errors.New("customer_id must be 1 to 64 characters")
	case len(p.Email) < 3 || len(p.Email) > 254 || !strings.Contains(p.Email, "@"):
		return errors.New("email must be an address of at most 254 characters")
	case len(p.Items) == 0:
		return errors.New("items must not be empty")
	}
	for i, it := range p.Items {
		if it.ProductID == "" || it.Quantity < 1 {
			return fmt.Errorf("items[%d] needs a product_id and a positive quantity", i)
		}
	}
	return nil
}

// OrderPlacedConsumer is the subscription HandleOrderPlaced serves, with up
// to concurrency events in flight.
func OrderPlacedConsumer(concurrency int) events.ConsumerConfig {
	return events.ConsumerConfig{
		Durable:     ConsumerOrderPlaced,
		Stream:      "order",
		Subject:     events.SubjectOf("order", "ORDER_PLACED"),
		Concurrency: concurrency,
	}
}

// HandleOrderPlaced creates the task of a placed order, once per order
// whatever the deliveries. A malformed event is events.Permanent.
func (s *Service) HandleOrderPlaced(ctx context.Context, ev events.Event) error {
	var p OrderPlaced
	if err := json.Unmarshal(ev.Data, &p); err != nil {
		return events.Permanent(fmt.Errorf("decode %s %s: %w", ev.Type, ev.ID, err))
	}
	if err := p.validate(); err != nil {
		return events.Permanent(fmt.Errorf("decode %s %s: %w", ev.Type, ev.ID, err))
	}
	return s.createTask(ctx, ev.ID, p)
}

// inboxRetention is how long inbox rows are kept. The UNIQUE order_id of
// tasks makes an event redelivered after its row is gone harmless, so the
// retention only bounds the table; a day outlasts the broker's
// redeliveries (minutes) and most dead-letter redrives.
const inboxRetention = 24 * time.Hour

// pruneInbox returns a worker that deletes inbox rows older than
// inboxRetention at start and then hourly. A failed prune is logged and
// tried again at the next tick.
func pruneInbox(db *sqlstore.DB, now func() time.Time, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		tick := time.NewTicker(time.Hour)
		defer tick.Stop()
		for {
			if _, err := db.PruneInbox(ctx, now().Add(-inboxRetention)); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "prune inbox", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	}
}
