package order

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
	"github.com/souk/souk/services/payment"
)

type harness struct {
	svc   *Service
	db    *sqlstore.DB
	inv   *fakeInventory
	pay   *fakePayments
	clock *clock
	// notified counts the wake-ups of the outbox relay.
	notified atomic.Int32
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var (
	ada   = &authn.Principal{Subject: "u-ada", Email: "ada@example.com", Name: "Ada", Role: authn.RoleCustomer}
	bob   = &authn.Principal{Subject: "u-bob", Email: "bob@example.com", Name: "Bob", Role: authn.RoleCustomer}
	admin = &authn.Principal{Subject: "u-admin", Role: authn.RoleAdmin}
)

func newHarness(t *testing.T, open func(fs.FS) *sqlstore.DB) *harness {
	h := &harness{
		db:    open(Migrations()),
		inv:   newFakeInventory(map[string]int64{"4521": 12, "4502": 100}),
		pay:   newFakePayments(),
		clock: &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)},
	}
	h.svc = NewService(Options{
		DB:        h.db,
		Catalog:   &fakeCatalog{products: map[string]Product{"4521": {ID: "4521", Name: "Coffee grinder", PriceCents: 4999, Currency: "USD"}, "4502": {ID: "4502", Name: "Tea", PriceCents: 1250, Currency: "USD"}}},
		Inventory: h.inv, Payments: h.pay,
		Now:             h.clock.Now,
		CheckoutTimeout: 5 * time.Second,
		Notify:          func() { h.notified.Add(1) },
	})
	return h
}

func place(items ...LineRequest) PlaceRequest {
	return PlaceRequest{Items: items, Payment: payment.Card{Number: payment.CardSuccess, ExpMonth: 12, ExpYear: 2030, CVC: "123"}}
}

func line(id string, q int64) LineRequest { return LineRequest{ProductID: id, Quantity: q} }

func types(t *testing.T, h *harness, id string) []string {
	t.Helper()
	evs, err := h.svc.store.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func TestCheckout(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := newHarness(t, open)
		ctx := context.Background()
		o, err := h.svc.Place(ctx, ada, place(line("4521", 2), line("4502", 1), line("4521", 1)), "")
		if err != nil {
			t.Fatalf("Place: %v", err)
		}
		if o.Status != StatusConfirmed || o.TotalCents != 3*4999+1250 || o.Currency != "USD" || o.Payment == nil || o.Payment.Last4 != "4242" {
			t.Fatalf("order = %+v", o)
		}
		want := []string{EventCreated, EventStockReserved, EventPaymentCaptured, EventPlaced}
		if diff := cmp.Diff(want, types(t, h, o.ID)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if got := h.inv.available["4521"]; got != 9 {
			t.Errorf("stock of 4521 = %d, want 9", got)
		}
		// The read model answers the owner, hides the order from others.
		got, err := h.svc.Get(ctx, ada, o.ID)
		if err != nil || got.Status != StatusConfirmed {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if _, err := h.svc.Get(ctx, bob, o.ID); !fault.Is(err, fault.NotFound) {
			t.Errorf("another customer's Get: err = %v, want NotFound", err)
		}
		if _, err := h.svc.Get(ctx, admin, o.ID); err != nil {
			t.Errorf("admin Get: %v", err)
		}
		if _, err := h.svc.History(ctx, bob, o.ID); !fault.Is(err, fault.NotFound) {
			t.Errorf("another customer's History: err = %v", err)
		}
		// Only the lifecycle event waits for the relay; the saga's steps
		// stay in the store.
		recs, err := Source{db: h.db}.Pending(ctx, 10)
		if err != nil || len(recs) != 1 || recs[0].Event.Type != EventPlaced || recs[0].Event.Source != "order" || recs[0].Event.Key != o.ID {
			t.Fatalf("pending = %d records (%v), want ORDER_PLACED alone", len(recs), err)
		}
		// ...and the relay is woken for it alone.
		if n := h.notified.Load(); n != 1 {
			t.Errorf("the relay was woken %d times, want once (for ORDER_PLACED)", n)
		}
	})
}

func TestCheckoutFailures(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		t.Run("out of stock cancels at once", func(t *testing.T) {
			h := newHarness(t, open)
			o, err := h.svc.Place(ctx, ada, place(line("4521", 13)), "")
			if !fault.HasCode(err, "out_of_stock") || !fault.Is(err, fault.Conflict) {
				t.Fatalf("err = %v, want 409 out_of_stock", err)
			}
			if diff := cmp.Diff([]string{EventCreated, EventCancelled}, types(t, h, o.ID)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if h.pay.count("charge") != 0 {
				t.Error("charged an order without stock")
			}
		})
		t.Run("declined card releases the stock", func(t *testing.T) {
			h := newHarness(t, open)
			req := place(line("4521", 2))
			req.Payment.Number = payment.CardDeclined
			o, err := h.svc.Place(ctx, ada, req, "")
			if !fault.Is(err, fault.PaymentRequired) || !fault.HasCode(err, "payment_declined") {
				t.Fatalf("err = %v, want 402 payment_declined", err)
			}
			if diff := cmp.Diff([]string{EventCreated, EventStockReserved, EventCompensating, EventCancelled}, types(t, h, o.ID)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if got := h.inv.available["4521"]; got != 12 {
				t.Errorf("stock = %d, want 12 (released)", got)
			}
		})
		t.Run("payment down: 503, stock released, cancelled once payment is back", func(t *testing.T) {
			h := newHarness(t, open)
			h.pay.setDown(true)
			o, err := h.svc.Place(ctx, ada, place(line("4521", 2)), "")
			if !fault.Is(err, fault.Unavailable) {
				t.Fatalf("err = %v, want 503", err)
			}
			if e, _ := fault.As(err); e.RetryAfter == 0 {
				t.Error("no Retry-After")
			}
			if got := h.inv.available["4521"]; got != 12 {
				t.Errorf("stock = %d, want 12 (released)", got)
			}
			v, _ := h.svc.store.View(ctx, o.ID)
			if v.Status != StatusPending {
				t.Fatalf("status = %s, want PENDING until the void succeeds", v.Status)
			}
			h.pay.setDown(false)
			h.clock.Add(time.Minute) // the lease runs out
			if n, err := h.svc.Recover(ctx); err != nil || n != 1 {
				t.Fatalf("Recover = %d, %v", n, err)
			}
			v, _ = h.svc.store.View(ctx, o.ID)
			if v.Status != StatusCancelled || h.pay.state(o.ID) != "voided" {
				t.Errorf("after recovery: status %s, payment %q; want CANCELLED and voided", v.Status, h.pay.state(o.ID))
			}
		})
		t.Run("unknown product and mixed lines are 400", func(t *testing.T) {
			h := newHarness(t, open)
			_, err := h.svc.Place(ctx, ada, place(line("nope", 1)), "")
			if !fault.Is(err, fault.Invalid) || !fault.HasCode(err, "unknown_product") {
				t.Fatalf("err = %v", err)
			}
			for _, bad := range []PlaceRequest{place(), place(line("4521", 0)), place(line("4521", -1)), place(line("4521", MaxQuantity+1)), place(line("", 1))} {
				if _, err := h.svc.Place(ctx, ada, bad, ""); !fault.Is(err, fault.Invalid) {
					t.Errorf("Place(%+v): err = %v, want Invalid", bad.Items, err)
				}
			}
			if h.inv.count("reserve") != 0 {
				t.Error("invalid orders reached inventory")
			}
		})
	})
}

func TestIdempotencyKey(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := newHarness(t, open)
		ctx := context.Background()
		first, err := h.svc.Place(ctx, ada, place(line("4521", 1)), "key-1")
		if err != nil {
			t.Fatal(err)
		}
		again, err := h.svc.Place(ctx, ada, place(line("4521", 1)), "key-1")
		if err != nil || again.ID != first.ID || again.Status != StatusConfirmed {
			t.Fatalf("replay = %+v, %v; want order %s", again, err, first.ID)
		}
		if n := h.inv.count("reserve"); n != 1 {
			t.Errorf("reserve calls = %d, want 1", n)
		}
		if _, err := h.svc.Place(ctx, ada, place(line("4521", 2)), "key-1"); !fault.Is(err, fault.Unprocessable) {
			t.Errorf("same key, other body: err = %v, want 422", err)
		}
		// Keys are per customer.
		other, err := h.svc.Place(ctx, bob, place(line("4521", 1)), "key-1")
		if err != nil || other.ID == first.ID {
			t.Errorf("bob's key-1 = %+v, %v", other, err)
		}
		// A declined order replays as the same decline.
		req := place(line("4502", 1))
		req.Payment.Number = payment.CardDeclined
		_, err1 := h.svc.Place(ctx, ada, req, "key-2")
		_, err2 := h.svc.Place(ctx, ada, req, "key-2")
		if !fault.Is(err1, fault.PaymentRequired) || !fault.Is(err2, fault.PaymentRequired) {
			t.Errorf("declined replay: %v then %v", err1, err2)
		}

		// Concurrent requests with one key: one order.
		var wg sync.WaitGroup
		ids := make(chan string, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, err := h.svc.Place(ctx, ada, place(line("4502", 1)), "key-3")
				if err != nil {
					t.Errorf("concurrent Place: %v", err)
					return
				}
				ids <- o.ID
			}()
		}
		wg.Wait()
		close(ids)
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		if len(seen) != 1 {
			t.Errorf("one key made %d orders", len(seen))
		}
	})
}

// stepTo creates an order and runs its saga up to the step named, as if the
// process had crashed right after recording it.
func stepTo(t *testing.T, h *harness, step string) Order {
	t.Helper()
	ctx := context.Background()
	now := h.clock.Now()
	req := place(line("4521", 2))
	c, err := h.svc.price(ctx, ada, req, now)
	if err != nil {
		t.Fatal(err)
	}
	o, _, _, err := h.svc.store.Create(ctx, c, "", "", "", now.Add(time.Second), now)
	if err != nil {
		t.Fatal(err)
	}
	card := req.Payment
	for o.Step != step {
		if o.Terminal() {
			t.Fatalf("order %s is %s: it never reached step %s", o.ID, o.Status, step)
		}
		if o.Step == StepReserved && step == StepCharged {
			// Checkout records the capture with the commit's outcome: only
			// a commit that cannot be made now leaves an order "charged".
			h.inv.setDown(true)
			o, err = h.svc.saga.step(ctx, o, &card)
			h.inv.setDown(false)
			if !errors.Is(err, errStalled) || o.Step != StepCharged {
				t.Fatalf("charge with inventory down: step %s, err %v; want %s, stalled", o.Step, err, StepCharged)
			}
			continue
		}
		if o, err = h.svc.saga.step(ctx, o, &card); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func TestRecovery(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		ctx := context.Background()
		tests := []struct {
			name       string
			step       string
			setup      func(h *harness, o Order)
			wantStatus string
			wantStock  int64
		}{
			{"crash after create", StepCreated, nil, StatusCancelled, 12},
			{"crash after create, reserve had landed", StepCreated, func(h *harness, o Order) { _ = h.inv.Reserve(ctx, o.ID, linesOf(o)) }, StatusCancelled, 12},
			{"crash after reserve, no charge", StepReserved, nil, StatusCancelled, 12},
			{"crash after reserve, charge had landed", StepReserved, func(h *harness, o Order) {
				_, _ = h.pay.Charge(ctx, o.ID, o.TotalCents, o.Currency, payment.Card{Number: payment.CardSuccess})
			}, StatusConfirmed, 10},
			{"crash after charge", StepCharged, nil, StatusConfirmed, 10},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, open)
				o := stepTo(t, h, tt.step)
				if tt.setup != nil {
					tt.setup(h, o)
				}
				// Not before the lease runs out.
				if n, _ := h.svc.Recover(ctx); n != 0 {
					t.Fatalf("recovered %d orders while their lease held", n)
				}
				h.clock.Add(time.Minute)
				if n, err := h.svc.Recover(ctx); err != nil || n != 1 {
					t.Fatalf("Recover = %d, %v", n, err)
				}
				v, _ := h.svc.store.View(ctx, o.ID)
				if v.Status != tt.wantStatus {
					t.Errorf("status = %s, want %s", v.Status, tt.wantStatus)
				}
				if got := h.inv.available["4521"]; got != tt.wantStock {
					t.Errorf("available = %d, want %d", got, tt.wantStock)
				}
				paid := h.pay.state(o.ID) == "captured"
				if paid != (tt.wantStatus == StatusConfirmed) {
					t.Errorf("payment state %q for a %s order", h.pay.state(o.ID), v.Status)
				}
				if n, _ := h.svc.Recover(ctx); n != 0 {
					t.Errorf("a finished order was recovered again")
				}
			})
		}
	})
}

func TestCommitAfterExpiryRefunds(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := newHarness(t, open)
		h.inv.expired = true
		o, err := h.svc.Place(context.Background(), ada, place(line("4521", 1)), "")
		if !fault.HasCode(err, "reservation_expired") {
			t.Fatalf("err = %v", err)
		}
		if h.pay.state(o.ID) != "refunded" {
			t.Errorf("payment = %q, want refunded", h.pay.state(o.ID))
		}
	})
}

func TestVersionConflict(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := newHarness(t, open)
		o := stepTo(t, h, StepCreated)
		now := h.clock.Now()
		if _, err := h.svc.store.Append(context.Background(), o, now, now, pending{EventStockReserved, StockReserved{OrderID: o.ID}}); err != nil {
			t.Fatal(err)
		}
		// A second writer that loaded the same version loses.
		_, err := h.svc.store.Append(context.Background(), o, now, now, pending{EventStockReserved, StockReserved{OrderID: o.ID}})
		if err != errVersionConflict {
			t.Fatalf("err = %v, want errVersionConflict", err)
		}
	})
}

func TestShipped(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := newHarness(t, open)
		ctx := context.Background()
		o, err := h.svc.Place(ctx, ada, place(line("4521", 1)), "")
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := events.New("ORDER_SHIPPED", "warehouse", o.ID, ShippedEvent{OrderID: o.ID, TaskID: "t1", ShippedAt: h.clock.Now()})
		for range 2 {
			if err := h.svc.HandleShipped(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff([]string{EventCreated, EventStockReserved, EventPaymentCaptured, EventPlaced, EventShipped}, types(t, h, o.ID)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		v, _ := h.svc.store.View(ctx, o.ID)
		if v.Status != StatusShipped {
			t.Errorf("status = %s", v.Status)
		}
		bad := ev
		bad.Data = []byte(`{"order_id":`)
		if err := h.svc.HandleShipped(ctx, bad); err == nil {
			t.Error("bad event accepted")
		}
	})
}

func TestList(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		h := newHarness(t, open)
		ctx := context.Background()
		var ids []string
		for range 5 {
			o, err := h.svc.Place(ctx, ada, place(line("4502", 1)), "")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, o.ID)
			h.clock.Add(time.Millisecond)
		}
		if _, err := h.svc.Place(ctx, bob, place(line("4502", 1)), ""); err != nil {
			t.Fatal(err)
		}
		var got []string
		cur := ""
		for {
			page, err := h.svc.List(ctx, ada, false, cur, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Items {
				got = append(got, o.ID)
			}
			if page.NextCursor == "" {
				break
			}
			cur = page.NextCursor
		}
		want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ada's orders (-want +got):\n%s", diff)
		}
		if _, err := h.svc.List(ctx, ada, false, "garbage!", 2); !fault.Is(err, fault.Invalid) {
			t.Errorf("bad cursor: %v", err)
		}
		if _, err := h.svc.List(ctx, ada, true, "", 10); !fault.Is(err, fault.Forbidden) {
			t.Errorf("customer listing all: %v", err)
		}
		all, err := h.svc.List(ctx, admin, true, "", 10)
		if err != nil || len(all.Items) != 6 {
			t.Errorf("admin listing all = %d, %v", len(all.Items), err)
		}
	})
}
