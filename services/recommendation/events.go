package recommendation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
)

// ConsumerOrders is the durable consumer of ORDER_PLACED and its name in
// the inbox.
const ConsumerOrders = "recommendation-orders"

// EventOrderPlaced is the event type the model learns from.
const EventOrderPlaced = "ORDER_PLACED"

// OrdersConsumer is the subscription HandleOrderPlaced serves, with up to
// concurrency events in flight.
func OrdersConsumer(concurrency int) events.ConsumerConfig {
	return events.ConsumerConfig{
		Durable:     ConsumerOrders,
		Stream:      "order",
		Subject:     events.SubjectOf("order", EventOrderPlaced),
		Concurrency: concurrency,
	}
}

// HandleOrderPlaced counts a placed order, once per event id whatever the
// deliveries. Data that is not a placed order is events.Permanent.
func (s *Service) HandleOrderPlaced(ctx context.Context, ev events.Event) error {
	var o OrderPlaced
	if err := json.Unmarshal(ev.Data, &o); err != nil {
		return events.Permanent(fmt.Errorf("decode %s %s: %w", ev.Type, ev.ID, err))
	}
	_, err := s.AddOrder(ctx, ev.ID, o)
	if fault.Is(err, fault.Invalid) {
		return events.Permanent(fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err))
	}
	return err
}

// inboxRetention is how long inbox rows are kept. The counts have no
// natural key to dedupe by, so the inbox is what makes a redelivery
// harmless: a week outlasts the broker's redeliveries (seconds), an outbox
// relay republishing after a crash (minutes) and the redrive of a dead
// letter in any normal operation. An event replayed after that would count
// its order twice, an error of one in a count.
const inboxRetention = 7 * 24 * time.Hour

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
