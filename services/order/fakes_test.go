package order

import (
	"context"
	"sync"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/services/payment"
)

// fakeCatalog knows a fixed set of products.
type fakeCatalog struct{ products map[string]Product }

func (c *fakeCatalog) Products(_ context.Context, ids []string) (map[string]Product, error) {
	out := map[string]Product{}
	for _, id := range ids {
		if p, ok := c.products[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

// fakeInventory keeps reservations like the real service: all-or-nothing,
// idempotent per order, tombstones on release.
type fakeInventory struct {
	mu        sync.Mutex
	available map[string]int64
	state     map[string]string // order → reserved, committed, released
	held      map[string][]LineRequest
	calls     map[string]int
	down      bool // every call fails as if the service were unreachable
	expired   bool // commits fail: the reservation expired
}

func newFakeInventory(stock map[string]int64) *fakeInventory {
	return &fakeInventory{available: stock, state: map[string]string{}, held: map[string][]LineRequest{}, calls: map[string]int{}}
}

var errDown = fault.New(fault.Unavailable, "unavailable", "down")

func (f *fakeInventory) Reserve(_ context.Context, orderID string, lines []LineRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["reserve"]++
	if f.down {
		return errDown
	}
	switch f.state[orderID] {
	case "reserved", "committed":
		return nil
	case "released":
		return fault.New(fault.Conflict, "reservation_released", "released")
	}
	for _, l := range lines {
		if f.available[l.ProductID] < l.Quantity {
			return fault.New(fault.Conflict, "out_of_stock", "product "+l.ProductID+" is out of stock")
		}
	}
	for _, l := range lines {
		f.available[l.ProductID] -= l.Quantity
	}
	f.state[orderID], f.held[orderID] = "reserved", lines
	return nil
}

func (f *fakeInventory) Commit(_ context.Context, orderID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["commit"]++
	if f.down {
		return errDown
	}
	if f.expired {
		return fault.New(fault.Conflict, "reservation_expired", "expired")
	}
	switch f.state[orderID] {
	case "reserved", "committed":
		f.state[orderID] = "committed"
		return nil
	case "released":
		return fault.New(fault.Conflict, "reservation_expired", "expired")
	}
	return fault.NotFoundf("no reservation")
}

func (f *fakeInventory) Release(_ context.Context, orderID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["release"]++
	if f.down {
		return errDown
	}
	switch f.state[orderID] {
	case "committed":
		return fault.New(fault.Conflict, "already_committed", "committed")
	case "reserved":
		for _, l := range f.held[orderID] {
			f.available[l.ProductID] += l.Quantity
		}
	}
	f.state[orderID] = "released"
	return nil
}

func (f *fakeInventory) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeInventory) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// fakePayments follows the payment service's rules.
type fakePayments struct {
	mu       sync.Mutex
	status   map[string]string // captured, voided, refunded, declined
	calls    map[string]int
	down     bool
	captured int64 // money held net
}

func newFakePayments() *fakePayments {
	return &fakePayments{status: map[string]string{}, calls: map[string]int{}}
}

func (f *fakePayments) Charge(_ context.Context, orderID string, amount int64, _ string, card payment.Card) (Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["charge"]++
	if f.down {
		return Payment{}, errDown
	}
	switch f.status[orderID] {
	case "captured":
		return Payment{TransactionID: "txn_" + orderID}, nil
	case "voided", "refunded":
		return Payment{}, fault.New(fault.Conflict, "order_voided", "voided")
	case "declined":
		return Payment{}, fault.New(fault.PaymentRequired, "payment_declined", "declined")
	}
	if card.Number == payment.CardDeclined {
		f.status[orderID] = "declined"
		return Payment{}, fault.New(fault.PaymentRequired, "payment_declined", "the card was declined")
	}
	f.status[orderID] = "captured"
	f.captured += amount
	return Payment{TransactionID: "txn_" + orderID, Last4: card.Last4(), Brand: card.Brand()}, nil
}

func (f *fakePayments) Void(_ context.Context, orderID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["void"]++
	if f.down {
		return errDown
	}
	switch f.status[orderID] {
	case "captured":
		f.status[orderID] = "refunded"
		f.captured = 0
	case "":
		f.status[orderID] = "voided"
	}
	return nil
}

func (f *fakePayments) Captured(_ context.Context, orderID string) (Payment, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["status"]++
	if f.down {
		return Payment{}, false, errDown
	}
	return Payment{TransactionID: "txn_" + orderID}, f.status[orderID] == "captured", nil
}

func (f *fakePayments) setDown(v bool) {
	f.mu.Lock()
	f.down = v
	f.mu.Unlock()
}

func (f *fakePayments) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakePayments) state(orderID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status[orderID]
}
