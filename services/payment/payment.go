// Package payment is the payment service: it charges cards through the
// built-in test processor, refunds, and keeps a ledger. Charges are
// idempotent per order id, so the order saga may retry a charge, and a void
// that arrives before a delayed charge makes that charge fail instead of
// capturing money for a cancelled order.
//
// The card number is never stored or logged; last4 and brand are.
package payment

import (
	"strings"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// Charge statuses.
const (
	StatusCaptured = "captured"
	StatusDeclined = "declined"
	StatusVoided   = "voided"   // voided before any capture: a later charge fails
	StatusRefunded = "refunded" // captured, then refunded in full
)

// Test cards of the built-in processor (API.md).
const (
	CardSuccess      = "4242424242424242"
	CardDeclined     = "4000000000000002"
	CardInsufficient = "4000000000009995"
)

// Card is a payment card as received; it lives only in memory.
type Card struct {
	Number   string `json:"card_number"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
	CVC      string `json:"cvc"`
}

// Validate checks the card's form, naming each bad field under prefix.
func (c Card) Validate(v *httpapi.Validator, prefix string, now time.Time) {
	num := c.Number
	v.Check(len(num) >= 12 && len(num) <= 19 && digits(num), prefix+"card_number", "must be 12 to 19 digits")
	if len(num) >= 12 && len(num) <= 19 && digits(num) {
		v.Check(luhn(num), prefix+"card_number", "is not a valid card number")
	}
	v.Check(c.ExpMonth >= 1 && c.ExpMonth <= 12, prefix+"exp_month", "must be 1 to 12")
	y, m := now.Year(), int(now.Month())
	v.Check(c.ExpYear >= y && c.ExpYear <= y+25, prefix+"exp_year", "must be this year or later (four digits)")
	if c.ExpYear == y && c.ExpMonth >= 1 && c.ExpMonth <= 12 {
		v.Check(c.ExpMonth >= m, prefix+"exp_month", "the card has expired")
	}
	v.Check((len(c.CVC) == 3 || len(c.CVC) == 4) && digits(c.CVC), prefix+"cvc", "must be 3 or 4 digits")
}

// Last4 returns the last four digits.
func (c Card) Last4() string {
	if len(c.Number) < 4 {
		return c.Number
	}
	return c.Number[len(c.Number)-4:]
}

// Brand guesses the card network from the number's prefix.
func (c Card) Brand() string {
	n := c.Number
	switch {
	case strings.HasPrefix(n, "4"):
		return "visa"
	case len(n) >= 2 && n[0] == '5' && n[1] >= '1' && n[1] <= '5', strings.HasPrefix(n, "2"):
		return "mastercard"
	case strings.HasPrefix(n, "34"), strings.HasPrefix(n, "37"):
		return "amex"
	}
	return "unknown"
}

// authorize is the built-in test processor: it approves any valid card but
// the two test cards that decline.
func authorize(c Card) (ok bool, reason string) {
	switch c.Number {
	case CardDeclined:
		return false, "card_declined"
	case CardInsufficient:
		return false, "insufficient_funds"
	}
	return true, ""
}

func declined(reason string) error {
	msg := "the card was declined"
	if reason == "insufficient_funds" {
		msg = "the card was declined: insufficient funds"
	}
	return fault.New(fault.PaymentRequired, "payment_declined", msg)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func luhn(s string) bool {
	sum := 0
	double := false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// Charge is the payment record of one order.
type Charge struct {
	OrderID       string    `json:"order_id"`
	TransactionID string    `json:"transaction_id"`
	Status        string    `json:"status"`
	AmountCents   int64     `json:"amount_cents"`
	Currency      string    `json:"currency"`
	DeclineReason string    `json:"decline_reason,omitempty"`
	Last4         string    `json:"last4,omitempty"`
	Brand         string    `json:"brand,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// ChargeRequest asks to capture an order's total.
type ChargeRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Card        Card   `json:"card"`
}

// Validate reports every invalid field.
func (r ChargeRequest) Validate(now time.Time) error {
	var v httpapi.Validator
	v.Check(r.OrderID != "" && len(r.OrderID) <= 64, "order_id", "must be 1 to 64 characters")
	v.Check(r.AmountCents > 0 && r.AmountCents <= 100_000_000_00, "amount_cents", "must be positive and at most 100,000,000.00")
	v.Check(len(r.Currency) == 3 && strings.ToUpper(r.Currency) == r.Currency, "currency", "must be a three-letter ISO code in capitals")
	r.Card.Validate(&v, "card.", now)
	return v.Err()
}

// Audit is one order's money as the payment service sees it.
type Audit struct {
	OrderID       string `json:"order_id"`
	Status        string `json:"status"`
	CapturedCents int64  `json:"captured_cents"`
	RefundedCents int64  `json:"refunded_cents"`
	Captures      int    `json:"captures"`
	Refunds       int    `json:"refunds"`
	Currency      string `json:"currency"`
}
