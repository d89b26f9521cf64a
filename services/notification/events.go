package notification

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

// Durable consumer names; each is also the consumer's name in the inbox.
const (
	ConsumerOrderPlaced    = "notification-order-placed"
	ConsumerOrderCancelled = "notification-order-cancelled"
	ConsumerOrderShipped   = "notification-order-shipped"
)

// Item is one line of an order, as the order service describes it.
type Item struct {
	ProductID  string `json:"product_id"`
	Name       string `json:"name"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// OrderPlaced is the part of ORDER_PLACED the notification service reads.
// Unknown fields are ignored, so the order service may add some.
type OrderPlaced struct {
	OrderID       string `json:"order_id"`
	CustomerID    string `json:"customer_id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	Items         []Item `json:"items"`
	TotalCents    int64  `json:"total_cents"`
	Currency      string `json:"currency"`
	TransactionID string `json:"transaction_id"`
}

// OrderCancelled is the part of ORDER_CANCELLED the service reads.
type OrderCancelled struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	Reason     string `json:"reason"`
	Code       string `json:"code"`
}

// OrderShipped is ORDER_SHIPPED, published by the warehouse.
type OrderShipped struct {
	OrderID    string    `json:"order_id"`
	TaskID     string    `json:"task_id"`
	CustomerID string    `json:"customer_id"`
	Email      string    `json:"email"`
	ShippedAt  time.Time `json:"shipped_at"`
}

// Consumer is one event subscription of the service and its handler.
type Consumer struct {
	Config events.ConsumerConfig
	Handle func(ctx context.Context, ev events.Event) error
}

// Consumers returns the service's subscriptions, each handling up to
// concurrency events at once.
func (s *Service) Consumers(concurrency int) []Consumer {
	sub := func(durable, source, typ string, h func(context.Context, events.Event) error) Consumer {
		return Consumer{
			Config: events.ConsumerConfig{Durable: durable, Stream: source, Subject: events.SubjectOf(source, typ), Concurrency: concurrency},
			Handle: h,
		}
	}
	return []Consumer{
		sub(ConsumerOrderPlaced, "order", "ORDER_PLACED", s.HandleOrderPlaced),
		sub(ConsumerOrderCancelled, "order", "ORDER_CANCELLED", s.HandleOrderCancelled),
		sub(ConsumerOrderShipped, "warehouse", "ORDER_SHIPPED", s.HandleOrderShipped),
	}
}

// HandleOrderPlaced records the confirmation email of an ORDER_PLACED
// event, once per event id. A malformed event is events.Permanent.
func (s *Service) HandleOrderPlaced(ctx context.Context, ev events.Event) error {
	p, err := decode[OrderPlaced](ev)
	if err != nil {
		return err
	}
	subject, body := confirmation(p)
	return s.record(ctx, ConsumerOrderPlaced, ev.ID, p.recipient(), KindConfirmation, subject, body)
}

// HandleOrderCancelled records the cancellation email of an
// ORDER_CANCELLED event, once per event id. A malformed event is
// events.Permanent.
func (s *Service) HandleOrderCancelled(ctx context.Context, ev events.Event) error {
	c, err := decode[OrderCancelled](ev)
	if err != nil {
		return err
	}
	subject, body := cancellation(c)
	return s.record(ctx, ConsumerOrderCancelled, ev.ID, c.recipient(), KindCancelled, subject, body)
}

// HandleOrderShipped records the shipping email of an ORDER_SHIPPED event,
// once per event id. A malformed event is events.Permanent.
func (s *Service) HandleOrderShipped(ctx context.Context, ev events.Event) error {
	sh, err := decode[OrderShipped](ev)
	if err != nil {
		return err
	}
	subject, body := shipment(sh)
	return s.record(ctx, ConsumerOrderShipped, ev.ID, sh.recipient(), KindShipped, subject, body)
}

// recipient is who an event's email goes to, and about which order: the
// fields every consumed event must carry.
type recipient struct {
	orderID, userID, email string
}

func (p OrderPlaced) recipient() recipient    { return recipient{p.OrderID, p.CustomerID, p.Email} }
func (c OrderCancelled) recipient() recipient { return recipient{c.OrderID, c.CustomerID, c.Email} }
func (s OrderShipped) recipient() recipient   { return recipient{s.OrderID, s.CustomerID, s.Email} }

// validate reports a recipient no email can be written for.
func (r recipient) validate() error {
	switch {
	case r.orderID == "" || len(r.orderID) > maxID:
		return errors.New("order_id must be 1 to 64 characters")
	case r.userID == "" || len(r.userID) > maxID:
		return errors.New("customer_id must be 1 to 64 characters")
	case len(r.email) < 3 || len(r.email) > 254 || !strings.Contains(r.email, "@"):
		return errors.New("email must be an address of at most 254 characters")
	}
	return nil
}

// decode reads an event's payload. Both of its failures are permanent: the
// same bytes fail the same way on every delivery.
func decode[T interface{ recipient() recipient }](ev events.Event) (T, error) {
	var v T
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		return v, events.Permanent(fmt.Errorf("decode %s %s: %w", ev.Type, ev.ID, err))
	}
	if err := v.recipient().validate(); err != nil {
		return v, events.Permanent(fmt.Errorf("decode %s %s: %w", ev.Type, ev.ID, err))
	}
	return v, nil
}

// inboxRetention is how long inbox rows are kept. The UNIQUE event_id of
// messages makes an event redelivered after its row is gone harmless, so
// the retention only bounds the table; a day outlasts the broker's
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
