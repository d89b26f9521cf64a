package order

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/souk/souk/platform/httpapi"
	"github.com/souk/souk/services/payment"
)

// Limits on one order.
const (
	MaxItems       = 50
	MaxQuantity    = 1000
	maxIDLen       = 64
	maxIdemKeyLen  = 200
	checkoutFields = "items"
)

// LineRequest is one requested line.
type LineRequest struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// PlaceRequest is the body of POST /api/v1/orders.
type PlaceRequest struct {
	Items   []LineRequest `json:"items"`
	Payment payment.Card  `json:"payment"`
}

// Validate reports every invalid field.
func (r PlaceRequest) Validate(now time.Time) error {
	var v httpapi.Validator
	v.Check(len(r.Items) > 0, checkoutFields, "must not be empty")
	v.Check(len(r.Items) <= MaxItems, checkoutFields, fmt.Sprintf("at most %d lines", MaxItems))
	if len(r.Items) <= MaxItems {
		for i, it := range r.Items {
			f := fmt.Sprintf("items[%d].", i)
			v.Check(it.ProductID != "" && len(it.ProductID) <= maxIDLen && printable(it.ProductID), f+"product_id", "must be 1 to 64 printable characters")
			v.Check(it.Quantity >= 1 && it.Quantity <= MaxQuantity, f+"quantity", fmt.Sprintf("must be 1 to %d", MaxQuantity))
		}
	}
	r.Payment.Validate(&v, "payment.", now)
	return v.Err()
}

// lines returns the requested quantities merged per product, sorted by
// product id.
func (r PlaceRequest) lines() []LineRequest {
	qty := map[string]int64{}
	for _, it := range r.Items {
		qty[it.ProductID] += it.Quantity
	}
	out := make([]LineRequest, 0, len(qty))
	for id, q := range qty {
		out = append(out, LineRequest{ProductID: id, Quantity: q})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProductID < out[j].ProductID })
	return out
}

// fingerprint identifies the request for Idempotency-Key reuse checks. It
// covers the lines and the card's last four digits and expiry, never the
// full card number (a hash of 16 digits would be guessable).
func (r PlaceRequest) fingerprint() string {
	b, _ := json.Marshal(struct {
		Lines    []LineRequest `json:"lines"`
		Last4    string        `json:"last4"`
		ExpMonth int           `json:"exp_month"`
		ExpYear  int           `json:"exp_year"`
	}{r.lines(), r.Payment.Last4(), r.Payment.ExpMonth, r.Payment.ExpYear})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ValidIdempotencyKey reports whether k is an acceptable Idempotency-Key:
// 1 to 200 visible ASCII characters.
func ValidIdempotencyKey(k string) bool {
	return k != "" && len(k) <= maxIdemKeyLen && printable(k)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
