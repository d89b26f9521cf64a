// Package notification is the notification service: it writes the emails
// Souk sends when an order is placed, cancelled or shipped, and shows each
// user the messages sent to them (GET /api/v1/notifications, newest first)
// and services and admins how many each order got (the audit).
//
// Delivery. No mail leaves Souk: a message row is the "sent" email, and the
// list endpoint is the user's mailbox. A real sender (SMTP, a mail API)
// plugs in where the message is stored: the consumer keeps writing the row
// in the same transaction as its inbox entry, and either delivers before
// acknowledging the event (at least once, with the message id as the
// provider's idempotency key) or, to keep the consumer fast, also adds an
// outbox row in that transaction that a relay worker delivers and marks
// sent. Either way each event's email is decided exactly once, and a crash
// at any point neither loses it nor writes it twice.
//
// Events consumed, each by its own durable consumer, each exactly once per
// event id:
//
//   - ORDER_PLACED    (order.order_placed)      → order_confirmation
//   - ORDER_CANCELLED (order.order_cancelled)   → order_cancelled
//   - ORDER_SHIPPED   (warehouse.order_shipped) → order_shipped
//
// Exactly once: the inbox row and the message commit in one transaction,
// and the message's UNIQUE event_id guards again, so a redelivery, two
// instances handling the same event at once, or an event redelivered after
// its inbox row was pruned (rows are kept a day) all leave one message.
//
// Failure. A payload that is not JSON, or lacks the order id, customer id
// or email, can never succeed: the handler returns events.Permanent and
// the event is dead-lettered at once. A database error is returned as is:
// the event is redelivered with backoff, then dead-lettered.
//
// Concurrency. The Service is safe for concurrent use; each consumer
// handles SOUK_NOTIFICATION_CONCURRENCY events at once (default 8, 1 to 64;
// read by Run only), each in one small transaction, for the event lag
// target of p99 ≤ 50 ms at 500 orders/s.
package notification

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/fault"
)

// Message kinds.
const (
	KindConfirmation = "order_confirmation"
	KindCancelled    = "order_cancelled"
	KindShipped      = "order_shipped"
)

// Message is one email Souk sent.
type Message struct {
	ID        string    `json:"id"`
	EventID   string    `json:"-"` // the event that caused it: one message per event
	UserID    string    `json:"-"` // the recipient's user id: only they may read it
	OrderID   string    `json:"order_id"`
	Kind      string    `json:"kind"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// Page is one page of a user's messages, newest first. NextCursor is empty
// on the last page.
type Page struct {
	Items      []Message `json:"items"`
	NextCursor string    `json:"next_cursor"`
}

// Audit is how many messages of one kind an order has.
type Audit struct {
	OrderID string `json:"order_id"`
	Kind    string `json:"kind"`
	Count   int    `json:"count"`
}

// AuditPage is one page of the audit, by order id then kind.
type AuditPage struct {
	Items      []Audit `json:"items"`
	NextCursor string  `json:"next_cursor"`
}

// FormatMoney renders an amount in cents for people: "$49.99" for US
// dollars, "12.34 EUR" for any other currency.
func FormatMoney(cents int64, currency string) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign, u = "-", uint64(-(cents+1))+1 // no overflow at math.MinInt64
	}
	amount := fmt.Sprintf("%d.%02d", u/100, u%100)
	if currency == "USD" {
		return sign + "$" + amount
	}
	return sign + amount + " " + currency
}

// oneLine replaces control characters (newlines among them) in text that
// comes from events, so that a name cannot forge lines of an email, nor an
// order id headers once a real sender writes the subject into SMTP.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// greeting opens an email to name, or to nobody in particular.
func greeting(name string) string {
	if name == "" {
		return "Hello,"
	}
	return "Hi " + oneLine(name) + ","
}

// confirmation writes the email for a placed order.
func confirmation(p OrderPlaced) (subject, body string) {
	order, currency := oneLine(p.OrderID), oneLine(p.Currency)
	var b strings.Builder
	b.WriteString(greeting(p.Name) + "\n\n")
	b.WriteString("thank you for shopping at Souk. Your order " + order + " is confirmed.\n\n")
	for _, it := range p.Items {
		line := FormatMoney(it.PriceCents*int64(it.Quantity), currency)
		fmt.Fprintf(&b, "  %d x %s  %s\n", it.Quantity, itemName(it), line)
	}
	b.WriteString("\nTotal: " + FormatMoney(p.TotalCents, currency) + "\n")
	if p.TransactionID != "" {
		b.WriteString("Payment: " + oneLine(p.TransactionID) + "\n")
	}
	b.WriteString("\nWe will write again when it ships.\n")
	return "Your Souk order " + order + " is confirmed", b.String()
}

func itemName(it Item) string {
	if it.Name == "" {
		return "product " + oneLine(it.ProductID)
	}
	return oneLine(it.Name)
}

// cancellation writes the email for a cancelled order.
func cancellation(c OrderCancelled) (subject, body string) {
	order := oneLine(c.OrderID)
	var b strings.Builder
	b.WriteString(greeting(c.Name) + "\n\n")
	b.WriteString("your order " + order + " was cancelled")
	if c.Reason != "" {
		b.WriteString(": " + oneLine(c.Reason))
	}
	b.WriteString(".\n\nYou have not been charged for it: any payment taken has been refunded in full.\n")
	return "Your Souk order " + order + " was cancelled", b.String()
}

// shipment writes the email for a shipped order.
func shipment(s OrderShipped) (subject, body string) {
	order := oneLine(s.OrderID)
	var b strings.Builder
	b.WriteString("Hello,\n\n")
	b.WriteString("your order " + order + " left our warehouse")
	if !s.ShippedAt.IsZero() {
		b.WriteString(" on " + s.ShippedAt.UTC().Format("2 January 2006 at 15:04 UTC"))
	}
	b.WriteString(".\n\nThank you for shopping at Souk.\n")
	return "Your Souk order " + order + " has shipped", b.String()
}

// cursor is a position in a user's messages, newest first: the last
// message of the previous page.
type cursor struct {
	createdAt int64 // unix ms
	id        string
}

// String encodes c as "<unix ms>.<message id>"; clients treat it as opaque.
func (c cursor) String() string {
	return strconv.FormatInt(c.createdAt, 10) + "." + c.id
}

// parseCursor decodes a cursor from String; fault.Invalid when s is not one.
func parseCursor(s string) (cursor, error) {
	bad := fault.Fields(fault.FieldError{Field: "cursor", Message: "is not a cursor this endpoint returned"})
	ms, id, ok := strings.Cut(s, ".")
	if !ok || len(ms) > 19 || len(id) != 36 {
		return cursor{}, bad
	}
	at, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || at < 0 {
		return cursor{}, bad
	}
	if _, err := uuid.Parse(id); err != nil {
		return cursor{}, bad
	}
	return cursor{createdAt: at, id: id}, nil
}

// auditCursor is a position in the audit: the last (order id, kind) of the
// previous page, encoded as "<order id>:<kind>". Kinds hold no colon, so the
// last colon splits it whatever the order id holds.
type auditCursor struct {
	orderID string
	kind    string
}

func (c auditCursor) String() string { return c.orderID + ":" + c.kind }

// parseAuditCursor decodes an audit cursor; "" is the start.
func parseAuditCursor(s string) (auditCursor, error) {
	if s == "" {
		return auditCursor{}, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i > maxID || !validKind(s[i+1:]) {
		return auditCursor{}, fault.Fields(fault.FieldError{Field: "cursor", Message: "is not a cursor this endpoint returned"})
	}
	return auditCursor{orderID: s[:i], kind: s[i+1:]}, nil
}

func validKind(k string) bool {
	return k == KindConfirmation || k == KindCancelled || k == KindShipped
}

// maxID bounds the ids that arrive in events and queries.
const maxID = 64
