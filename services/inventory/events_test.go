package inventory

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"testing"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

var discard = slog.New(slog.DiscardHandler)

// cancelledEvent is an ORDER_CANCELLED as the order service publishes it.
func cancelledEvent(t *testing.T, orderID string) events.Event {
	t.Helper()
	ev, err := events.New(EventOrderCancelled, "order", orderID, map[string]any{
		"order_id": orderID, "customer_id": "u1", "email": "a@example.com", "name": "A",
		"items": []any{}, "total_cents": 4999, "currency": "USD", "reason": "payment declined", "code": "payment_declined",
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestOrderCancelled(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		db := open(Migrations())
		svc := NewService(db, newClock().Now, ttl)
		handle := svc.OrderCancelledHandler(discard)
		seed(t, svc, InitialStock{"a", 10})

		// Reserved, then cancelled: released once, however often delivered.
		if _, _, err := reserve(ctx, svc, "o1", items("a", 3)...); err != nil {
			t.Fatal(err)
		}
		ev := cancelledEvent(t, "o1")
		for range 2 {
			if err := handle(ctx, ev); err != nil {
				t.Fatalf("handle: %v", err)
			}
		}
		if s := stockOf(t, svc, "a"); s.Available != 10 || s.Reserved != 0 {
			t.Errorf("stock = %+v, want all available", s)
		}
		var inbox int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM inbox WHERE event_id = ?`, ev.ID).Scan(&inbox); err != nil || inbox != 1 {
			t.Errorf("inbox rows = %d, %v; want 1", inbox, err)
		}
		if rs := auditAllReservations(t, svc); len(rs) != 1 || rs[0].Status != StatusReleased || rs[0].Reason != ReasonCancelled {
			t.Errorf("reservations = %+v, want o1 released as cancelled", rs)
		}

		// Cancelled before any reserve: the late reserve is refused.
		if err := handle(ctx, cancelledEvent(t, "o2")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := reserve(ctx, svc, "o2", items("a", 1)...); !fault.HasCode(err, "reservation_released") {
			t.Errorf("reserve after cancel: err = %v", err)
		}

		// Committed: the event is consumed and the stock stays sold.
		if _, _, err := reserve(ctx, svc, "o3", items("a", 2)...); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Commit(ctx, "o3"); err != nil {
			t.Fatal(err)
		}
		if err := handle(ctx, cancelledEvent(t, "o3")); err != nil {
			t.Errorf("cancel of a committed order: %v, want nil (acked)", err)
		}
		if s := stockOf(t, svc, "a"); s.Sold != 2 || s.Available != 8 {
			t.Errorf("stock = %+v, want 2 sold", s)
		}
		checkInvariants(t, svc)
	})
}

func TestOrderCancelledMalformed(t *testing.T) {
	svc := NewService(nil, newClock().Now, ttl) // never reaches the database
	handle := svc.OrderCancelledHandler(discard)
	for _, data := range []string{`{`, `[]`, `{"order_id":""}`, `{"order_id":"a b"}`, `{"order_id":5}`} {
		ev := events.Event{ID: "e1", Type: EventOrderCancelled, Source: "order", Data: json.RawMessage(data)}
		if err := handle(context.Background(), ev); !events.IsPermanent(err) {
			t.Errorf("data %s: err = %v, want a permanent error", data, err)
		}
	}
}

func TestOrderCancelledConsumer(t *testing.T) {
	got := orderCancelledConsumer()
	want := events.ConsumerConfig{Durable: "inventory-order-cancelled", Stream: "order", Subject: "order.order_cancelled"}
	if got.Durable != want.Durable || got.Stream != want.Stream || got.Subject != want.Subject {
		t.Errorf("consumer = %+v, want %+v", got, want)
	}
}
