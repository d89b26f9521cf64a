// Package warehouse is the warehouse service: one pick-and-pack task per
// placed order, which staff (admins) list and ship, and an audit of the
// tasks per order for services and admins.
//
// Events consumed: ORDER_PLACED (order.order_placed, durable
// "warehouse-order-placed") creates the order's task exactly once: the
// inbox row and the task commit in one transaction, and the task's UNIQUE
// order_id guards again, so neither a redelivery, nor two instances
// handling it at once, nor a second event about the same order, nor a
// redelivery after the inbox row was pruned (rows are kept a day) makes a
// second task.
//
// Events published: shipping a task emits ORDER_SHIPPED through the outbox
// in the transaction that marks the task shipped, so the order and
// notification services hear of every shipment, once, and of none that did
// not commit. A task ships once: shipping it again is 409 already_shipped,
// also when two staff ship it at the same moment (the conditional UPDATE
// decides, not the read before it).
//
// Failure. A payload that is not JSON, or lacks the order id, customer id,
// email or items, can never succeed: the handler returns events.Permanent
// and the event is dead-lettered at once. A database error is returned as
// is: the event is redelivered with backoff, then dead-lettered.
//
// Concurrency. The Service is safe for concurrent use; the consumer
// handles SOUK_WAREHOUSE_CONCURRENCY events at once (default 8, 1 to 64;
// read by Run only).
package warehouse

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// Task statuses.
const (
	StatusPending = "pending"
	StatusShipped = "shipped"
)

// Task is the pick-and-pack work of one order.
type Task struct {
	ID         string     `json:"id"`
	OrderID    string     `json:"order_id"`
	CustomerID string     `json:"customer_id"`
	Email      string     `json:"email"`
	Items      []Item     `json:"items"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	ShippedAt  *time.Time `json:"shipped_at"` // null until shipped
}

// Item is one line to pick.
type Item struct {
	ProductID string `json:"product_id"`
	Name      string `json:"name"`
	Quantity  int    `json:"quantity"`
}

// Page is one page of tasks. NextCursor is empty on the last page.
type Page struct {
	Items      []Task `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// Audit is the tasks of one order: the invariants want exactly one for a
// confirmed order and none for a cancelled one.
type Audit struct {
	OrderID string `json:"order_id"`
	Tasks   int    `json:"tasks"`
	Status  string `json:"status"`
}

// AuditPage is one page of the audit, by order id.
type AuditPage struct {
	Items      []Audit `json:"items"`
	NextCursor string  `json:"next_cursor"`
}

// Page sizes.
const (
	DefaultLimit      = 20
	MaxLimit          = 100
	DefaultAuditLimit = 1000
	MaxAuditLimit     = 5000
)

// maxID bounds the ids that arrive in events, paths and queries.
const maxID = 64

// ListQuery selects tasks: all of them, or those of one order or status,
// oldest first (the order staff pick them in), after the task id Cursor.
type ListQuery struct {
	OrderID string
	Status  string
	Cursor  string
	Limit   int
}

// Validate reports every invalid field.
func (q ListQuery) Validate() error {
	var v httpapi.Validator
	v.Check(len(q.OrderID) <= maxID, "order_id", "must be at most 64 characters")
	v.Check(q.Status == "" || q.Status == StatusPending || q.Status == StatusShipped, "status", "must be pending or shipped")
	v.Check(q.Cursor == "" || validTaskID(q.Cursor), "cursor", "is not a cursor this endpoint returned")
	v.Check(q.Limit >= 1 && q.Limit <= MaxLimit, "limit", fmt.Sprintf("must be 1 to %d", MaxLimit))
	return v.Err()
}

// validTaskID reports whether s has the form of a task id (a UUID); the
// cursor of a task list is the last task's id.
func validTaskID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

func checkAuditQuery(cursor string, limit int) error {
	var v httpapi.Validator
	v.Check(len(cursor) <= maxID, "cursor", "is not a cursor this endpoint returned")
	v.Check(limit >= 1 && limit <= MaxAuditLimit, "limit", fmt.Sprintf("must be 1 to %d", MaxAuditLimit))
	return v.Err()
}

var errAlreadyShipped = fault.New(fault.Conflict, "already_shipped", "the task has already shipped")
