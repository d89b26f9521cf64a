// Package order is the order service: orders are event-sourced aggregates,
// and checkout is an orchestrated saga with compensations.
//
// Event sourcing. An order is the fold of its events (Apply), stored in
// order_events with a version per order; an append states the version it
// expects, and the UNIQUE (order_id, version) constraint turns a concurrent
// append into a conflict instead of a lost update. The same transaction
// updates the read model (orders) that queries use. The event table is the
// outbox: a relay publishes each committed event to JetStream, with its id
// as the message id. Only the lifecycle events are published (Published);
// the saga's steps stay in the store.
//
// The checkout saga (saga.go):
//
//	created ──reserve stock──▶ reserved ──charge──▶ charged ──commit stock──▶ CONFIRMED (ORDER_PLACED)
//	   │ out of stock             │ declined / payment down   │ reservation expired
//	   ▼                          ▼                           ▼
//	CANCELLED            compensating: release stock, void payment ──▶ CANCELLED (ORDER_CANCELLED)
//
// Every step is persisted before the next starts, so a crash anywhere
// leaves an order whose next step is known. Card details are never stored,
// so a recovered saga never charges: it asks payment whether the charge
// happened, continues if it did, and compensates if it did not (the void
// also stops a charge still in flight from capturing later).
//
// One process drives an order at a time: the orders row holds a lease
// (lease_until), taken when the order is created and renewed by each step;
// the recovery worker resumes PENDING orders whose lease has run out, on
// start-up and every few seconds.
//
// Settings (environment): SOUK_ORDER_CHECKOUT_TIMEOUT (default 3s: after
// it the request answers 202 PENDING and the saga goes on),
// SOUK_ORDER_LEASE (default 10s), SOUK_ORDER_RECOVERY_INTERVAL (default 2s).
package order

import (
	"encoding/json"
	"fmt"
	"time"
)

// Public statuses.
const (
	StatusPending   = "PENDING"
	StatusConfirmed = "CONFIRMED"
	StatusCancelled = "CANCELLED"
	StatusShipped   = "SHIPPED"
)

// Saga steps: what has been done, so what comes next.
const (
	StepCreated      = "created"      // next: reserve stock
	StepReserved     = "reserved"     // next: charge
	StepCharged      = "charged"      // next: commit stock and confirm
	StepCompensating = "compensating" // next: release stock, void payment, cancel
	StepDone         = "done"
)

// Event types. All are stored (the order's history); those in Published
// are also published to the broker for other services.
const (
	EventCreated         = "ORDER_CREATED"
	EventStockReserved   = "ORDER_STOCK_RESERVED"
	EventPaymentCaptured = "ORDER_PAYMENT_CAPTURED"
	EventCompensating    = "ORDER_COMPENSATING"
	EventPlaced          = "ORDER_PLACED"
	EventCancelled       = "ORDER_CANCELLED"
	EventShipped         = "ORDER_SHIPPED"
)

// Published are the order's integration events: its lifecycle as other
// services see it. The saga's intermediate steps (created, stock reserved,
// payment captured, compensating) are the order service's own business:
// recorded in the event store, never published, so the broker carries one
// event per order instead of four.
var Published = map[string]bool{EventPlaced: true, EventCancelled: true, EventShipped: true}

// Item is one line of an order, priced at creation.
type Item struct {
	ProductID  string `json:"product_id"`
	Name       string `json:"name"`
	Quantity   int64  `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// Payment is what the order keeps of its payment.
type Payment struct {
	TransactionID string `json:"transaction_id"`
	Last4         string `json:"last4,omitempty"`
	Brand         string `json:"brand,omitempty"`
}

// Order is the state of one order: the fold of its events.
type Order struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	CustomerID string    `json:"customer_id"`
	Email      string    `json:"-"`
	Name       string    `json:"-"`
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
	Payment    *Payment  `json:"payment,omitempty"`
	Reason     string    `json:"cancel_reason,omitempty"`
	Code       string    `json:"cancel_code,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`

	Step    string `json:"-"`
	Version int    `json:"-"`
}

// Terminal reports whether the saga of o is over.
func (o Order) Terminal() bool { return o.Status != StatusPending }

// Created is the data of ORDER_CREATED.
type Created struct {
	OrderID    string    `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
	CreatedAt  time.Time `json:"created_at"`
}

// StockReserved is the data of ORDER_STOCK_RESERVED.
type StockReserved struct {
	OrderID string `json:"order_id"`
}

// PaymentCaptured is the data of ORDER_PAYMENT_CAPTURED.
type PaymentCaptured struct {
	OrderID string  `json:"order_id"`
	Payment Payment `json:"payment"`
}

// Compensating is the data of ORDER_COMPENSATING: why the saga turned back.
type Compensating struct {
	OrderID string `json:"order_id"`
	Reason  string `json:"reason"`
	Code    string `json:"code"`
}

// Placed is the data of ORDER_PLACED, the confirmation other services act
// on (docs/contracts.md).
type Placed struct {
	OrderID       string    `json:"order_id"`
	CustomerID    string    `json:"customer_id"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	Items         []Item    `json:"items"`
	TotalCents    int64     `json:"total_cents"`
	Currency      string    `json:"currency"`
	TransactionID string    `json:"transaction_id"`
	PlacedAt      time.Time `json:"placed_at"`
}

// Cancelled is the data of ORDER_CANCELLED.
type Cancelled struct {
	OrderID    string    `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
	Reason     string    `json:"reason"`
	Code       string    `json:"code"`
	At         time.Time `json:"cancelled_at"`
}

// Shipped is the data of ORDER_SHIPPED as the order records it.
type Shipped struct {
	OrderID   string    `json:"order_id"`
	TaskID    string    `json:"task_id"`
	ShippedAt time.Time `json:"shipped_at"`
}

// Event is one stored event of an order.
type Event struct {
	ID      string          `json:"id"`
	OrderID string          `json:"order_id"`
	Version int             `json:"version"`
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"`
	Time    time.Time       `json:"time"`
}

// Apply folds one event into o. It returns an error for an event that
// cannot follow o's state: the store never holds such a sequence, so this
// guards against bugs, not users.
func (o *Order) Apply(e Event) error {
	if e.Version != o.Version+1 {
		return fmt.Errorf("order %s: event version %d after %d", e.OrderID, e.Version, o.Version)
	}
	switch e.Type {
	case EventCreated:
		var d Created
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("order %s: %s: %w", e.OrderID, e.Type, err)
		}
		*o = Order{ID: d.OrderID, Status: StatusPending, Step: StepCreated, CustomerID: d.CustomerID, Email: d.Email, Name: d.Name,
			Items: d.Items, TotalCents: d.TotalCents, Currency: d.Currency, CreatedAt: d.CreatedAt}
	case EventStockReserved:
		o.Step = StepReserved
	case EventPaymentCaptured:
		var d PaymentCaptured
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("order %s: %s: %w", e.OrderID, e.Type, err)
		}
		o.Step, o.Payment = StepCharged, &d.Payment
	case EventCompensating:
		var d Compensating
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("order %s: %s: %w", e.OrderID, e.Type, err)
		}
		o.Step, o.Reason, o.Code = StepCompensating, d.Reason, d.Code
	case EventPlaced:
		o.Status, o.Step = StatusConfirmed, StepDone
	case EventCancelled:
		var d Cancelled
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("order %s: %s: %w", e.OrderID, e.Type, err)
		}
		o.Status, o.Step, o.Reason, o.Code = StatusCancelled, StepDone, d.Reason, d.Code
	case EventShipped:
		o.Status = StatusShipped
	default:
		return fmt.Errorf("order %s: unknown event %s", e.OrderID, e.Type)
	}
	o.Version = e.Version
	o.UpdatedAt = e.Time
	return nil
}

// Fold rebuilds an order from its events, oldest first.
func Fold(evs []Event) (Order, error) {
	var o Order
	for _, e := range evs {
		if err := o.Apply(e); err != nil {
			return Order{}, err
		}
	}
	return o, nil
}
