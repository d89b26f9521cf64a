// Package recommendation is the recommendation service: "customers who
// bought this also bought", learnt from placed orders. It is a read model
// (CQRS style) fed by the order service's ORDER_PLACED events, and the
// gateway's product page asks it for a product's recommendations, a part
// the page can do without when this service is down.
//
// # Model
//
// For every placed order the service counts each product once
// (popularity) and each pair of distinct products once, both ways (pairs).
// A product's recommendations are its partners by pair count, scored by
// the share of its orders that also held the partner (0 to 1); when it has
// fewer partners than asked, the most popular other products fill the list
// with score 0. A product nobody ordered yet gets the popular ones only.
//
// # Events
//
// ORDER_PLACED arrives through the durable consumer
// "recommendation-orders" (stream order, subject order.order_placed). The
// counts of an order and its inbox row commit in one transaction, so a
// redelivered event counts once. Inbox rows are kept for a week (see
// inboxRetention). Rows are upserted in product id order, so concurrent
// orders on PostgreSQL lock shared rows in the same order and never
// deadlock. An event whose data is not a placed order goes to the dead
// letters at once.
//
// # Reads
//
// A recommendation is one indexed query, plus one for the popular fallback
// when needed.
//
// Settings (read by Run only): SOUK_RECOMMENDATION_CONCURRENCY, how many
// events the consumer handles at once (default 4, 1 to 64).
package recommendation

import (
	"fmt"
	"sort"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// Limits.
const (
	MaxIDLen     = 64
	DefaultLimit = 5
	MaxLimit     = 20
	// maxOrderProducts bounds the distinct products of one order that the
	// model counts: an order holds at most 50 lines (package order), and
	// the pairs of an order grow with the square of its products.
	maxOrderProducts = 100
)

// Reasons for a recommendation.
const (
	ReasonBoughtTogether = "bought_together"
	ReasonPopular        = "popular"
)

// Item is one recommended product.
type Item struct {
	ProductID string  `json:"product_id"`
	Score     float64 `json:"score"`
	Reason    string  `json:"reason"`
}

// Recommendations are the products recommended next to ProductID, best
// first.
type Recommendations struct {
	ProductID string `json:"product_id"`
	Items     []Item `json:"items"`
}

// validateRequest checks a product id from a path and a limit.
func validateRequest(productID string, limit int) error {
	var v httpapi.Validator
	v.Check(productID != "" && len(productID) <= MaxIDLen, "product_id", fmt.Sprintf("must be 1 to %d characters", MaxIDLen))
	v.Check(limit >= 1 && limit <= MaxLimit, "limit", fmt.Sprintf("must be 1 to %d", MaxLimit))
	return v.Err()
}

func errBadLimit() error {
	return fault.Fields(fault.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", MaxLimit)})
}

// OrderPlaced is the part of ORDER_PLACED the model reads. Other fields
// are ignored, so the order service may add some.
type OrderPlaced struct {
	OrderID string `json:"order_id"`
	Items   []struct {
		ProductID string `json:"product_id"`
	} `json:"items"`
}

// products returns the order's distinct product ids in order, or a
// fault.Invalid error for an order the model cannot count.
func (o OrderPlaced) products() ([]string, error) {
	if o.OrderID == "" {
		return nil, fault.Invalidf("the order has no order_id")
	}
	if len(o.Items) == 0 {
		return nil, fault.Invalidf("order %s has no items", o.OrderID)
	}
	seen := make(map[string]bool, len(o.Items))
	ids := make([]string, 0, len(o.Items))
	for i, it := range o.Items {
		if it.ProductID == "" || len(it.ProductID) > MaxIDLen {
			return nil, fault.Invalidf("order %s: items[%d].product_id must be 1 to %d characters", o.OrderID, i, MaxIDLen)
		}
		if !seen[it.ProductID] {
			seen[it.ProductID] = true
			ids = append(ids, it.ProductID)
		}
	}
	if len(ids) > maxOrderProducts {
		return nil, fault.Invalidf("order %s has %d products, more than %d", o.OrderID, len(ids), maxOrderProducts)
	}
	sort.Strings(ids)
	return ids, nil
}
