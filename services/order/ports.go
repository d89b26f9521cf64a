package order

import (
	"context"
	"net/url"
	"strings"

	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/services/payment"
)

// The saga's view of the services it orchestrates. The rpc-backed
// implementations below talk to the real services; tests use fakes.

// Product is what the order needs of a catalog product.
type Product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
}

// Catalog prices products.
type Catalog interface {
	// Products returns the known products among ids.
	Products(ctx context.Context, ids []string) (map[string]Product, error)
}

// Inventory holds stock for orders; every call is idempotent per order.
type Inventory interface {
	Reserve(ctx context.Context, orderID string, lines []LineRequest) error
	Commit(ctx context.Context, orderID string) error
	Release(ctx context.Context, orderID string) error
}

// Payments moves money; every call is idempotent per order.
type Payments interface {
	Charge(ctx context.Context, orderID string, amountCents int64, currency string, card payment.Card) (Payment, error)
	// Void refunds a captured charge, or makes sure no later charge
	// captures.
	Void(ctx context.Context, orderID string) error
	// Captured reports whether orderID's payment is captured, and its
	// details.
	Captured(ctx context.Context, orderID string) (Payment, bool, error)
}

// Clients are the rpc-backed ports.
type Clients struct{ RPC *rpc.Client }

// Products implements Catalog.
func (c Clients) Products(ctx context.Context, ids []string) (map[string]Product, error) {
	var out struct {
		Items []Product `json:"items"`
	}
	err := c.RPC.Do(ctx, "catalog", rpc.Call{Method: "GET", Path: "/internal/products", Query: url.Values{"ids": {strings.Join(ids, ",")}}, Idempotent: true}, &out)
	if err != nil {
		return nil, err
	}
	m := make(map[string]Product, len(out.Items))
	for _, p := range out.Items {
		m[p.ID] = p
	}
	return m, nil
}

type reserveBody struct {
	OrderID string        `json:"order_id"`
	Items   []LineRequest `json:"items"`
}

// Reserve implements Inventory.
func (c Clients) Reserve(ctx context.Context, orderID string, lines []LineRequest) error {
	return c.RPC.Do(ctx, "inventory", rpc.Call{Method: "POST", Path: "/internal/reservations", Body: reserveBody{orderID, lines}, Idempotent: true}, nil)
}

// Commit implements Inventory.
func (c Clients) Commit(ctx context.Context, orderID string) error {
	return c.RPC.Do(ctx, "inventory", rpc.Call{Method: "POST", Path: "/internal/reservations/" + url.PathEscape(orderID) + "/commit", Idempotent: true}, nil)
}

// Release implements Inventory.
func (c Clients) Release(ctx context.Context, orderID string) error {
	return c.RPC.Do(ctx, "inventory", rpc.Call{Method: "POST", Path: "/internal/reservations/" + url.PathEscape(orderID) + "/release", Idempotent: true}, nil)
}

// Charge implements Payments.
func (c Clients) Charge(ctx context.Context, orderID string, amountCents int64, currency string, card payment.Card) (Payment, error) {
	var ch payment.Charge
	err := c.RPC.Do(ctx, "payment", rpc.Call{Method: "POST", Path: "/internal/charges", Body: payment.ChargeRequest{OrderID: orderID, AmountCents: amountCents, Currency: currency, Card: card}, Idempotent: true}, &ch)
	return Payment{TransactionID: ch.TransactionID, Last4: ch.Last4, Brand: ch.Brand}, err
}

// Void implements Payments.
func (c Clients) Void(ctx context.Context, orderID string) error {
	return c.RPC.Do(ctx, "payment", rpc.Call{Method: "POST", Path: "/internal/charges/" + url.PathEscape(orderID) + "/void", Idempotent: true}, nil)
}

// Captured implements Payments.
func (c Clients) Captured(ctx context.Context, orderID string) (Payment, bool, error) {
	var ch payment.Charge
	err := c.RPC.Do(ctx, "payment", rpc.Call{Method: "GET", Path: "/internal/charges/" + url.PathEscape(orderID), Idempotent: true}, &ch)
	if err != nil {
		if isNotFound(err) {
			return Payment{}, false, nil
		}
		return Payment{}, false, err
	}
	return Payment{TransactionID: ch.TransactionID, Last4: ch.Last4, Brand: ch.Brand}, ch.Status == payment.StatusCaptured, nil
}
