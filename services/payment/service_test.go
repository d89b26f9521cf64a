package payment

import (
	"context"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func card(number string) Card {
	return Card{Number: number, ExpMonth: 12, ExpYear: 2030, CVC: "123"}
}

func req(order string, number string) ChargeRequest {
	return ChargeRequest{OrderID: order, AmountCents: 4999, Currency: "USD", Card: card(number)}
}

func newService(t *testing.T, open func(fs.FS) *sqlstore.DB) (*Service, *sqlstore.DB) {
	db := open(Migrations())
	return NewService(db, func() time.Time { return now }, nil), db
}

func TestCharge(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ctx := context.Background()

		c, err := svc.Charge(ctx, req("o1", CardSuccess))
		if err != nil {
			t.Fatalf("charge: %v", err)
		}
		if c.Status != StatusCaptured || c.Last4 != "4242" || c.Brand != "visa" || c.TransactionID == "" {
			t.Fatalf("charge = %+v", c)
		}
		again, err := svc.Charge(ctx, req("o1", CardSuccess))
		if err != nil || again.TransactionID != c.TransactionID {
			t.Fatalf("repeat charge = %+v, %v; want the first transaction %s", again, err, c.TransactionID)
		}
		other := req("o1", CardSuccess)
		other.AmountCents = 1
		if _, err := svc.Charge(ctx, other); !fault.HasCode(err, "amount_mismatch") {
			t.Errorf("other amount: err = %v", err)
		}

		for _, tc := range []struct{ order, number string }{{"o2", CardDeclined}, {"o3", CardInsufficient}} {
			_, err := svc.Charge(ctx, req(tc.order, tc.number))
			if !fault.Is(err, fault.PaymentRequired) || !fault.HasCode(err, "payment_declined") {
				t.Errorf("%s: err = %v, want 402 payment_declined", tc.number, err)
			}
			// A retried declined charge is declined again, not charged.
			if _, err := svc.Charge(ctx, req(tc.order, CardSuccess)); !fault.Is(err, fault.PaymentRequired) {
				t.Errorf("retry after decline: err = %v", err)
			}
		}

		var captures, outbox int
		_ = db.QueryRow(ctx, `SELECT COUNT(*) FROM ledger WHERE kind = 'capture'`).Scan(&captures)
		_ = db.QueryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE type = ?`, EventCaptured).Scan(&outbox)
		if captures != 1 || outbox != 1 {
			t.Errorf("captures = %d, outbox events = %d; want 1 and 1", captures, outbox)
		}
	})
}

func TestVoid(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx := context.Background()

		// Captured then voided: refunded once, however often it is voided.
		if _, err := svc.Charge(ctx, req("o1", CardSuccess)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			c, err := svc.Void(ctx, "o1")
			if err != nil || c.Status != StatusRefunded {
				t.Fatalf("void = %+v, %v", c, err)
			}
		}
		// Voided before any charge: a late charge fails and captures nothing.
		if c, err := svc.Void(ctx, "o2"); err != nil || c.Status != StatusVoided {
			t.Fatalf("void unknown = %+v, %v", c, err)
		}
		if _, err := svc.Charge(ctx, req("o2", CardSuccess)); !fault.HasCode(err, "order_voided") {
			t.Fatalf("charge after void: err = %v", err)
		}

		audit, err := svc.Audit(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Audit{}
		for _, a := range audit {
			got[a.OrderID] = a
		}
		if a := got["o1"]; a.CapturedCents != 4999 || a.RefundedCents != 4999 || a.Captures != 1 || a.Refunds != 1 {
			t.Errorf("audit o1 = %+v", a)
		}
		if a := got["o2"]; a.CapturedCents != 0 || a.Status != StatusVoided {
			t.Errorf("audit o2 = %+v", a)
		}
	})
}

func TestConcurrentChargesCaptureOnce(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ctx := context.Background()
		var wg sync.WaitGroup
		txns := make(chan string, 16)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := svc.Charge(ctx, req("hot", CardSuccess))
				if err != nil {
					t.Errorf("charge: %v", err)
					return
				}
				txns <- c.TransactionID
			}()
		}
		wg.Wait()
		close(txns)
		first := ""
		for id := range txns {
			if first == "" {
				first = id
			}
			if id != first {
				t.Errorf("two transactions for one order: %s and %s", first, id)
			}
		}
		var captures int
		_ = db.QueryRow(ctx, `SELECT COUNT(*) FROM ledger WHERE order_id = 'hot'`).Scan(&captures)
		if captures != 1 {
			t.Errorf("ledger rows = %d, want 1", captures)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ChargeRequest)
		field  string
	}{
		{"letters in card", func(r *ChargeRequest) { r.Card.Number = "4242abcd42424242" }, "card.card_number"},
		{"bad luhn", func(r *ChargeRequest) { r.Card.Number = "4242424242424241" }, "card.card_number"},
		{"short card", func(r *ChargeRequest) { r.Card.Number = "4242" }, "card.card_number"},
		{"month 13", func(r *ChargeRequest) { r.Card.ExpMonth = 13 }, "card.exp_month"},
		{"expired", func(r *ChargeRequest) { r.Card.ExpYear = 2025 }, "card.exp_year"},
		{"expired this year", func(r *ChargeRequest) { r.Card.ExpYear, r.Card.ExpMonth = 2026, 10 }, "card.exp_month"},
		{"cvc", func(r *ChargeRequest) { r.Card.CVC = "12a" }, "card.cvc"},
		{"zero amount", func(r *ChargeRequest) { r.AmountCents = 0 }, "amount_cents"},
		{"negative amount", func(r *ChargeRequest) { r.AmountCents = -5 }, "amount_cents"},
		{"currency", func(r *ChargeRequest) { r.Currency = "usd" }, "currency"},
		{"no order", func(r *ChargeRequest) { r.OrderID = "" }, "order_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req("o1", CardSuccess)
			tt.mutate(&r)
			e, ok := fault.As(r.Validate(now))
			if !ok || e.Kind != fault.Invalid {
				t.Fatalf("Validate = %v, want Invalid", r.Validate(now))
			}
			found := false
			for _, f := range e.Fields {
				found = found || f.Field == tt.field
			}
			if !found {
				t.Errorf("fields = %+v, want %s", e.Fields, tt.field)
			}
		})
	}
	if err := req("o1", CardSuccess).Validate(now); err != nil {
		t.Errorf("valid request: %v", err)
	}
}
