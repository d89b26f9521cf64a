// Package inventory is the inventory service: it owns every product's stock
// and the reservations that the order saga makes against it. It is the
// system's hot spot (one row per product, written by every checkout) and
// keeps its hardest invariant, per product and at every commit:
//
//	initial + restocked = available + reserved + sold,  available, reserved, sold ≥ 0
//
// The stock table states both as CHECK constraints, so no code path, not
// even a buggy one, can commit a row that breaks them.
//
// # Reservations
//
// A reservation holds stock for one order (its natural key, so every call
// is idempotent and callers may retry) and moves through
//
//	reserved ──commit──▶ committed      (reserved → sold)
//	   │
//	   └──release / expiry / ORDER_CANCELLED──▶ released   (reserved → available)
//
// Reserve is all-or-nothing across the order's items: one write
// transaction takes each product's stock with a conditional UPDATE
// (available >= quantity), in product id order so that concurrent
// reservations lock rows in one order on PostgreSQL, and any shortfall rolls
// back the whole transaction. A release of an order that has no reservation
// leaves a released tombstone, so a reserve that timed out at the caller
// but lands later is refused (reservation_released) instead of holding stock
// nobody will commit. An unknown product is out of stock (409 out_of_stock),
// like a known one with nothing left: the caller cannot act differently.
//
// Reservations not committed within the TTL are released by a worker that
// every instance runs; its conditional UPDATE (status = 'reserved') makes
// replicas sweeping at once release each reservation exactly once. Expiry
// is enforced by that sweep: a commit that arrives after expires_at but
// before the sweep still succeeds, because the stock is still held.
//
// # Settings
//
// Read by Run from the environment, besides the common ones of package boot:
//
//	SOUK_INVENTORY_RESERVATION_TTL   how long a reservation holds stock uncommitted (default 2m)
//	SOUK_INVENTORY_SWEEP_INTERVAL    how often expired reservations are released (default 5s)
//	SOUK_INVENTORY_SEED              false: do not seed the sample stock (default true)
//
// On its first start the service seeds stock from package sampledata
// (initial = available = InitialStock); the seed never overwrites a row, so
// restarts and replicas starting together are harmless.
package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/httpapi"
)

// Reservation statuses.
const (
	StatusReserved  = "reserved"
	StatusCommitted = "committed"
	StatusReleased  = "released"
)

// Why a reservation was released.
const (
	ReasonReleased  = "released"  // the order service released it
	ReasonExpired   = "expired"   // its TTL passed before a commit
	ReasonCancelled = "cancelled" // the order was cancelled (ORDER_CANCELLED)
)

// Limits of a request.
const (
	MaxIDLength       = 64
	MaxItems          = 50
	MaxQuantity       = 1000
	MaxAvailable      = 1_000_000_000
	MaxBatchIDs       = 100  // GET /internal/stock?ids=
	MaxAuditLimit     = 5000 // contracts.md
	DefaultAuditLimit = 1000
)

// Item is a quantity of one product.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// Reservation is the stock held for one order.
type Reservation struct {
	OrderID   string    `json:"order_id"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason"` // "" unless released
	Items     []Item    `json:"items"`  // empty for a tombstone
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ReserveRequest asks to hold items for an order.
type ReserveRequest struct {
	OrderID string `json:"order_id"`
	Items   []Item `json:"items"`
}

// Validate reports every invalid field.
func (r ReserveRequest) Validate() error {
	var v httpapi.Validator
	v.Check(ValidID(r.OrderID), "order_id", idRule)
	v.Check(len(r.Items) >= 1 && len(r.Items) <= MaxItems, "items", fmt.Sprintf("must hold 1 to %d items", MaxItems))
	for i, it := range r.Items {
		if i == MaxItems {
			break // already refused above; name no more fields
		}
		v.Check(ValidID(it.ProductID), fmt.Sprintf("items[%d].product_id", i), idRule)
		v.Check(it.Quantity >= 1 && it.Quantity <= MaxQuantity, fmt.Sprintf("items[%d].quantity", i), fmt.Sprintf("must be 1 to %d", MaxQuantity))
	}
	return v.Err()
}

// merged returns items with one entry per product, quantities summed, in
// product id order: the order in which Reserve locks stock rows.
func merged(items []Item) []Item {
	sum := make(map[string]int64, len(items))
	for _, it := range items {
		sum[it.ProductID] += it.Quantity
	}
	out := make([]Item, 0, len(sum))
	for id, q := range sum {
		out = append(out, Item{ProductID: id, Quantity: q})
	}
	slices.SortFunc(out, func(a, b Item) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return out
}

const idRule = "must be 1 to 64 printable ASCII characters without spaces or commas"

// ValidID reports whether s can be an order or product id: 1 to 64
// printable ASCII characters, no space and no comma (ids travel in paths and
// in comma-separated lists).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ',' {
			return false
		}
	}
	return true
}

func checkID(field, id string) error {
	if !ValidID(id) {
		return fault.Fields(fault.FieldError{Field: field, Message: idRule})
	}
	return nil
}

// Stock is one product's row: every unit is available, reserved or sold.
type Stock struct {
	ProductID string `json:"product_id"`
	Initial   int64  `json:"initial"`
	Restocked int64  `json:"restocked"` // net admin adjustments; may be negative
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

// Balanced reports whether s keeps the invariant of the package.
func (s Stock) Balanced() bool {
	return s.Available >= 0 && s.Reserved >= 0 && s.Sold >= 0 &&
		s.Initial+s.Restocked == s.Available+s.Reserved+s.Sold
}

// Level is what the public and the gateway see of a product's stock.
type Level struct {
	ProductID string `json:"product_id"`
	Available int64  `json:"available"`
}

// Levels is the answer of a batch read.
type Levels struct {
	Items []Level `json:"items"`
}

// SetStockRequest is an admin's new available count for a product.
type SetStockRequest struct {
	// Available is a pointer so that a body without it is refused rather
	// than read as zero, which would empty the shelf.
	Available *int64 `json:"available"`
}

// Validate reports every invalid field.
func (r SetStockRequest) Validate() error {
	var v httpapi.Validator
	v.Check(r.Available != nil && *r.Available >= 0 && *r.Available <= MaxAvailable, "available", "is required, 0 to 1000000000")
	return v.Err()
}

// StockView is the answer to an admin's stock change.
type StockView struct {
	ProductID string `json:"product_id"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

// InitialStock is a product's stock at the system's first start.
type InitialStock struct {
	ProductID string
	Quantity  int64
}

// ReservationAudit is one order's reservation as the audit pages it.
type ReservationAudit struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Items   []Item `json:"items"`
}

// Page is one page of an audit.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"` // "" on the last page
}

// Errors with stable codes (contracts.md).

func outOfStock(productID string, want int64, known bool) error {
	if !known {
		return fault.New(fault.Conflict, "out_of_stock", fmt.Sprintf("product %s is not stocked", productID))
	}
	return fault.New(fault.Conflict, "out_of_stock", fmt.Sprintf("product %s has fewer than %d units available", productID, want))
}

func reservationReleased(orderID string) error {
	return fault.New(fault.Conflict, "reservation_released", fmt.Sprintf("the reservation of order %s was released", orderID))
}

func reservationExpired(r Reservation) error {
	return fault.New(fault.Conflict, "reservation_expired", fmt.Sprintf("the reservation of order %s was released (%s)", r.OrderID, r.Reason))
}

func alreadyCommitted(orderID string) error {
	return fault.New(fault.Conflict, "already_committed", fmt.Sprintf("the reservation of order %s is committed", orderID))
}

func noReservation(orderID string) error {
	return fault.NotFoundf("no reservation for order %s", orderID)
}
