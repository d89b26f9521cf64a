package order

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// Placement is an order the checkout saga confirmed, as a bulk seed
// (`souk seed`, tools/seed) writes it with Store.SeedPlaced.
type Placement struct {
	// Created is the order as ORDER_CREATED states it; Created.CreatedAt
	// is when the customer placed it.
	Created Created
	// Payment is the captured charge.
	Payment Payment
	// EventIDs are the ids of ORDER_CREATED, ORDER_STOCK_RESERVED,
	// ORDER_PAYMENT_CAPTURED and ORDER_PLACED, chosen by the caller so that
	// other services' seeded rows can name the event that caused them.
	EventIDs [4]string
	// PlacedAt is when the saga confirmed the order: the time of the three
	// events after ORDER_CREATED, of their publication, and of ORDER_PLACED.
	PlacedAt time.Time
	// IdempotencyKey, when set, is recorded as the checkout request's
	// Idempotency-Key (scope: the customer), fingerprinted from Request.
	IdempotencyKey string
	Request        PlaceRequest
}

// SeedPlaced writes p in tx as the checkout saga leaves a confirmed order:
// its four events already published (published_at set, so the relay does
// not send them again), its read-model row (CONFIRMED, step done, no lease)
// and, when p has one, its Idempotency-Key. The events are folded with
// Apply, so the stored view is the one the service itself would write. A
// duplicate order or event id fails with a unique violation; the caller's
// transaction is then to be rolled back.
func (s *Store) SeedPlaced(ctx context.Context, tx *sqlstore.Tx, p Placement) (Order, error) {
	c := p.Created
	tid := p.Payment.TransactionID
	steps := [4]struct {
		typ  string
		data any
		at   time.Time
	}{
		{EventCreated, c, c.CreatedAt},
		{EventStockReserved, StockReserved{OrderID: c.OrderID}, p.PlacedAt},
		{EventPaymentCaptured, PaymentCaptured{OrderID: c.OrderID, Payment: p.Payment}, p.PlacedAt},
		{EventPlaced, Placed{
			OrderID: c.OrderID, CustomerID: c.CustomerID, Email: c.Email, Name: c.Name, Items: c.Items,
			TotalCents: c.TotalCents, Currency: c.Currency, TransactionID: tid, PlacedAt: p.PlacedAt,
		}, p.PlacedAt},
	}
	var o Order
	published := p.PlacedAt.UnixMilli()
	for i, st := range steps {
		data, err := json.Marshal(st.data)
		if err != nil {
			return Order{}, fmt.Errorf("seed order %s: encode %s: %w", c.OrderID, st.typ, err)
		}
		e := Event{ID: p.EventIDs[i], OrderID: c.OrderID, Version: i + 1, Type: st.typ, Data: data, Time: st.at}
		if err := o.Apply(e); err != nil {
			return Order{}, fmt.Errorf("seed order %s: %w", c.OrderID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO order_events (event_id, order_id, version, type, data, headers, created_at, published_at) VALUES (?, ?, ?, ?, ?, '', ?, ?)`,
			e.ID, e.OrderID, e.Version, e.Type, string(data), st.at.UnixMilli(), published); err != nil {
			return Order{}, fmt.Errorf("seed order %s: append %s: %w", c.OrderID, e.Type, err)
		}
	}
	view, err := json.Marshal(o)
	if err != nil {
		return Order{}, fmt.Errorf("seed order %s: %w", c.OrderID, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, customer_id, status, step, total_cents, currency, version, view, created_at, updated_at, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		o.ID, o.CustomerID, o.Status, o.Step, o.TotalCents, o.Currency, o.Version, string(view), o.CreatedAt.UnixMilli(), o.UpdatedAt.UnixMilli()); err != nil {
		return Order{}, fmt.Errorf("seed order %s: read model: %w", c.OrderID, err)
	}
	if p.IdempotencyKey != "" {
		if _, err := tx.Exec(ctx, `INSERT INTO idempotency (scope, key, request_hash, status, body, created_at) VALUES (?, ?, ?, 0, ?, ?)`,
			c.CustomerID, p.IdempotencyKey, p.Request.fingerprint(), c.OrderID, c.CreatedAt.UnixMilli()); err != nil {
			return Order{}, fmt.Errorf("seed order %s: idempotency key: %w", c.OrderID, err)
		}
	}
	return o, nil
}
