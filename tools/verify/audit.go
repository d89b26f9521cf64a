package verify

// Statuses and kinds as the services' audits report them.
const (
	OrderPending   = "PENDING"
	OrderConfirmed = "CONFIRMED"
	OrderShipped   = "SHIPPED"
	OrderCancelled = "CANCELLED"

	ReservationReserved  = "reserved"
	ReservationCommitted = "committed"
	ReservationReleased  = "released"

	KindConfirmation = "order_confirmation"
)

// Item is one line of an order or a reservation.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// Order is one row of the order audit (GET /internal/audit/orders).
type Order struct {
	OrderID    string `json:"order_id"`
	Status     string `json:"status"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
	Items      []Item `json:"items"`
}

// Charge is one row of the payment audit (GET /internal/audit/charges).
type Charge struct {
	OrderID       string `json:"order_id"`
	Status        string `json:"status"`
	CapturedCents int64  `json:"captured_cents"`
	RefundedCents int64  `json:"refunded_cents"`
	Captures      int    `json:"captures"`
	Refunds       int    `json:"refunds"`
	Currency      string `json:"currency"`
}

// Net is what the charge holds of the customer's money.
func (c Charge) Net() int64 { return c.CapturedCents - c.RefundedCents }

// Stock is one product of the stock audit (GET /internal/audit/stock).
type Stock struct {
	ProductID string `json:"product_id"`
	Initial   int64  `json:"initial"`
	Restocked int64  `json:"restocked"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

// Reservation is one order's reservation (GET /internal/audit/reservations).
type Reservation struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Items   []Item `json:"items"`
}

// Notification is how many messages of one kind an order got
// (GET /internal/audit/notifications).
type Notification struct {
	OrderID string `json:"order_id"`
	Kind    string `json:"kind"`
	Count   int    `json:"count"`
}

// Task is how many warehouse tasks an order has (GET /internal/audit/tasks).
type Task struct {
	OrderID string `json:"order_id"`
	Tasks   int    `json:"tasks"`
	Status  string `json:"status"`
}

// Data is everything the audits returned, each list complete.
type Data struct {
	Orders        []Order
	Charges       []Charge
	Stock         []Stock
	Reservations  []Reservation
	Notifications []Notification
	Tasks         []Task
}
