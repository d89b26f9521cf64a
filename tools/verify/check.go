package verify

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Names of the checks, in the order a Report lists them.
const (
	CheckTerminal       = "terminal"
	CheckCharged        = "confirmed_charged"
	CheckCommitted      = "confirmed_stock_committed"
	CheckEmail          = "confirmed_email"
	CheckTask           = "confirmed_task"
	CheckCancelledClean = "cancelled_clean"
	CheckStock          = "stock_conserved"
	CheckOrphans        = "no_orphans"
	CheckExpected       = "expected_orders"
)

// Result is the outcome of one check.
type Result struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Checked is how many things the check looked at, counted in Unit
	// ("orders", "products", ...).
	Checked int    `json:"checked"`
	Unit    string `json:"unit"`
	// Violations are the ids that break the invariant (orders, or products
	// for stock_conserved), sorted and each once.
	Violations []string `json:"violations"`
	// ViolationCount is len(Violations), kept when a printer shortens the
	// list.
	ViolationCount int `json:"violation_count"`
	// Detail says what was seen, and for a failure how many ids broke the
	// invariant for which reason.
	Detail string `json:"detail"`
}

// Summary counts what the audit saw.
type Summary struct {
	Orders       int `json:"orders"`
	Confirmed    int `json:"confirmed"`
	Shipped      int `json:"shipped"`
	Cancelled    int `json:"cancelled"`
	Pending      int `json:"pending"`
	Products     int `json:"products"`
	Charges      int `json:"charges"`
	Reservations int `json:"reservations"`
	Emails       int `json:"confirmation_emails"`
	Tasks        int `json:"tasks"`
	// Lost is how many orders the load generator saw accepted that the
	// order audit does not list (0 without expectations).
	Lost int `json:"lost"`
	// Duplicates is how many extra effects the checks found: captures,
	// confirmation emails and warehouse tasks beyond the first of an order,
	// and orders beyond the first of one idempotency key.
	Duplicates int `json:"duplicates"`
	// Accepted and Ambiguous count the lines of the expectations file.
	Accepted  int `json:"accepted,omitempty"`
	Ambiguous int `json:"ambiguous,omitempty"`
}

// Report is the outcome of one audit.
type Report struct {
	OK      bool     `json:"ok"`
	Checks  []Result `json:"checks"`
	Summary Summary  `json:"summary"`
	// Attempts is how many times Run fetched and checked.
	Attempts int `json:"attempts,omitempty"`
}

// Failed returns the checks that failed.
func (r Report) Failed() []Result {
	var out []Result
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Check evaluates every invariant on d; exp (nil when there is none) adds
// the expected_orders check. It never fails: broken data is a violation.
func Check(d Data, exp *Expectations) Report {
	ix := index(d)
	var rep Report
	rep.Summary = Summary{
		Orders:       len(d.Orders),
		Products:     len(d.Stock),
		Charges:      len(d.Charges),
		Reservations: len(d.Reservations),
		Tasks:        sumTasks(d.Tasks),
	}
	for _, o := range d.Orders {
		switch o.Status {
		case OrderConfirmed:
			rep.Summary.Confirmed++
		case OrderShipped:
			rep.Summary.Shipped++
		case OrderCancelled:
			rep.Summary.Cancelled++
		case OrderPending:
			rep.Summary.Pending++
		}
	}
	for _, n := range d.Notifications {
		if n.Kind == KindConfirmation {
			rep.Summary.Emails += n.Count
		}
	}
	add := func(r Result, dups int) {
		rep.Checks = append(rep.Checks, r)
		rep.Summary.Duplicates += dups
	}
	add(checkTerminal(d, rep.Summary), 0)
	add(checkCharged(d, ix))
	add(checkCommitted(d, ix), 0)
	add(checkEmail(d, ix))
	add(checkTask(d, ix))
	add(checkCancelled(d, ix))
	add(checkStock(d), 0)
	add(checkOrphans(d, ix), 0)
	if exp != nil {
		r, lost, dups := checkExpected(ix, exp)
		add(r, dups)
		rep.Summary.Lost = lost
		rep.Summary.Accepted = len(exp.Accepted)
		rep.Summary.Ambiguous = len(exp.Ambiguous)
	}
	rep.OK = true
	for _, c := range rep.Checks {
		rep.OK = rep.OK && c.OK
	}
	return rep
}

// indexes of Data by order id.
type indexes struct {
	orders       map[string]Order
	charges      map[string]Charge
	reservations map[string]Reservation
	emails       map[string]int // confirmation emails per order
	tasks        map[string]Task
}

func index(d Data) indexes {
	ix := indexes{
		orders:       make(map[string]Order, len(d.Orders)),
		charges:      make(map[string]Charge, len(d.Charges)),
		reservations: make(map[string]Reservation, len(d.Reservations)),
		emails:       make(map[string]int, len(d.Notifications)),
		tasks:        make(map[string]Task, len(d.Tasks)),
	}
	for _, o := range d.Orders {
		ix.orders[o.OrderID] = o
	}
	for _, c := range d.Charges {
		ix.charges[c.OrderID] = c
	}
	for _, r := range d.Reservations {
		ix.reservations[r.OrderID] = r
	}
	for _, n := range d.Notifications {
		if n.Kind == KindConfirmation {
			ix.emails[n.OrderID] += n.Count
		}
	}
	for _, t := range d.Tasks {
		ix.tasks[t.OrderID] = t
	}
	return ix
}

func sumTasks(ts []Task) int {
	n := 0
	for _, t := range ts {
		n += t.Tasks
	}
	return n
}

func confirmed(o Order) bool { return o.Status == OrderConfirmed || o.Status == OrderShipped }

// tally collects the violations of one check.
type tally struct {
	ids     map[string]bool
	reasons map[string]int
}

func (t *tally) add(id, reason string) {
	if t.ids == nil {
		t.ids, t.reasons = map[string]bool{}, map[string]int{}
	}
	t.ids[id] = true
	t.reasons[reason]++
}

// result finishes a check: ok is the detail when nothing broke.
func (t *tally) result(name, unit string, checked int, ok string) Result {
	r := Result{Name: name, Unit: unit, Checked: checked, OK: len(t.ids) == 0, Violations: []string{}}
	if r.OK {
		r.Detail = ok
		return r
	}
	r.Violations = slices.Sorted(maps.Keys(t.ids))
	r.ViolationCount = len(r.Violations)
	reasons := slices.Sorted(maps.Keys(t.reasons))
	// Most frequent reason first, then by name.
	slices.SortStableFunc(reasons, func(a, b string) int { return t.reasons[b] - t.reasons[a] })
	parts := make([]string, len(reasons))
	for i, why := range reasons {
		parts[i] = fmt.Sprintf("%d %s", t.reasons[why], why)
	}
	r.Detail = strings.Join(parts, ", ")
	return r
}

// checkTerminal: every order is CONFIRMED, SHIPPED or CANCELLED.
func checkTerminal(d Data, s Summary) Result {
	var t tally
	for _, o := range d.Orders {
		switch o.Status {
		case OrderConfirmed, OrderShipped, OrderCancelled:
		case OrderPending:
			t.add(o.OrderID, "still PENDING")
		default:
			t.add(o.OrderID, fmt.Sprintf("in unknown status %q", o.Status))
		}
	}
	return t.result(CheckTerminal, "orders", len(d.Orders),
		fmt.Sprintf("all terminal: %d confirmed, %d shipped, %d cancelled", s.Confirmed, s.Shipped, s.Cancelled))
}

// checkCharged: a confirmed order has exactly one capture of its total and
// no refund. It returns the extra captures too.
func checkCharged(d Data, ix indexes) (Result, int) {
	var t tally
	n, dups := 0, 0
	for _, o := range d.Orders {
		if !confirmed(o) {
			continue
		}
		n++
		c, ok := ix.charges[o.OrderID]
		if !ok {
			t.add(o.OrderID, "without a charge")
			continue
		}
		switch {
		case c.Captures == 0:
			t.add(o.OrderID, "never captured")
		case c.Captures > 1:
			t.add(o.OrderID, "captured more than once")
			dups += c.Captures - 1
		}
		if c.Captures > 0 && c.CapturedCents != o.TotalCents {
			t.add(o.OrderID, "captured an amount other than the total")
		}
		if c.Refunds != 0 || c.RefundedCents != 0 {
			t.add(o.OrderID, "refunded")
		}
		if c.Currency != "" && o.Currency != "" && c.Currency != o.Currency {
			t.add(o.OrderID, "charged in another currency")
		}
	}
	return t.result(CheckCharged, "confirmed orders", n, "each captured once for its total, never refunded"), dups
}

// checkCommitted: a confirmed order's reservation is committed with the
// order's items.
func checkCommitted(d Data, ix indexes) Result {
	var t tally
	n := 0
	for _, o := range d.Orders {
		if !confirmed(o) {
			continue
		}
		n++
		r, ok := ix.reservations[o.OrderID]
		switch {
		case !ok:
			t.add(o.OrderID, "without a reservation")
		case r.Status != ReservationCommitted:
			t.add(o.OrderID, "with its reservation "+r.Status)
		case !sameItems(o.Items, r.Items):
			t.add(o.OrderID, "committed other items than ordered")
		}
	}
	return t.result(CheckCommitted, "confirmed orders", n, "each order's items committed")
}

// quantities sums items per product; quantities of 0 are left out.
func quantities(items []Item) map[string]int64 {
	m := make(map[string]int64, len(items))
	for _, it := range items {
		m[it.ProductID] += it.Quantity
	}
	for id, q := range m {
		if q == 0 {
			delete(m, id)
		}
	}
	return m
}

func sameItems(a, b []Item) bool { return maps.Equal(quantities(a), quantities(b)) }

// checkEmail: a confirmed order got exactly one confirmation email.
func checkEmail(d Data, ix indexes) (Result, int) {
	var t tally
	n, dups := 0, 0
	for _, o := range d.Orders {
		if !confirmed(o) {
			continue
		}
		n++
		switch c := ix.emails[o.OrderID]; {
		case c == 0:
			t.add(o.OrderID, "without a confirmation email")
		case c > 1:
			t.add(o.OrderID, "with more than one confirmation email")
			dups += c - 1
		}
	}
	return t.result(CheckEmail, "confirmed orders", n, "each got one confirmation email"), dups
}

// checkTask: a confirmed order has exactly one warehouse task, shipped
// when the order is.
func checkTask(d Data, ix indexes) (Result, int) {
	var t tally
	n, dups := 0, 0
	for _, o := range d.Orders {
		if !confirmed(o) {
			continue
		}
		n++
		task := ix.tasks[o.OrderID]
		switch {
		case task.Tasks == 0:
			t.add(o.OrderID, "without a warehouse task")
		case task.Tasks > 1:
			t.add(o.OrderID, "with more than one warehouse task")
			dups += task.Tasks - 1
		}
		if o.Status == OrderShipped && task.Tasks > 0 && task.Status != "shipped" {
			t.add(o.OrderID, "SHIPPED while its task is "+task.Status)
		}
	}
	return t.result(CheckTask, "confirmed orders", n, "each has one warehouse task"), dups
}

// checkCancelled: a cancelled order holds no money and no stock and has no
// task and no confirmation email.
func checkCancelled(d Data, ix indexes) (Result, int) {
	var t tally
	n, dups := 0, 0
	for _, o := range d.Orders {
		if o.Status != OrderCancelled {
			continue
		}
		n++
		if c, ok := ix.charges[o.OrderID]; ok {
			if c.Net() != 0 {
				t.add(o.OrderID, "with a net charge")
			}
			if c.Captures > 1 {
				t.add(o.OrderID, "captured more than once")
				dups += c.Captures - 1
			}
		}
		if r, ok := ix.reservations[o.OrderID]; ok {
			switch r.Status {
			case ReservationReserved:
				t.add(o.OrderID, "with stock still reserved")
			case ReservationCommitted:
				t.add(o.OrderID, "with its stock committed")
			}
		}
		if ix.tasks[o.OrderID].Tasks > 0 {
			t.add(o.OrderID, "with a warehouse task")
		}
		if ix.emails[o.OrderID] > 0 {
			t.add(o.OrderID, "with a confirmation email")
		}
	}
	return t.result(CheckCancelledClean, "cancelled orders", n, "no net charge, no stock held, no task, no confirmation email"), dups
}

// checkStock: per product, initial + restocked = available + reserved +
// sold with nothing negative, and reserved and sold agree with the
// reservations.
func checkStock(d Data) Result {
	reserved, sold := map[string]int64{}, map[string]int64{}
	for _, r := range d.Reservations {
		var into map[string]int64
		switch r.Status {
		case ReservationReserved:
			into = reserved
		case ReservationCommitted:
			into = sold
		default:
			continue
		}
		for _, it := range r.Items {
			into[it.ProductID] += it.Quantity
		}
	}
	var t tally
	known := make(map[string]bool, len(d.Stock))
	for _, s := range d.Stock {
		known[s.ProductID] = true
		if s.Initial+s.Restocked != s.Available+s.Reserved+s.Sold {
			t.add(s.ProductID, "with initial + restocked ≠ available + reserved + sold")
		}
		if s.Available < 0 || s.Reserved < 0 || s.Sold < 0 {
			t.add(s.ProductID, "with a negative count")
		}
		if s.Reserved != reserved[s.ProductID] {
			t.add(s.ProductID, "with reserved ≠ its reserved reservations")
		}
		if s.Sold != sold[s.ProductID] {
			t.add(s.ProductID, "with sold ≠ its committed reservations")
		}
	}
	for _, m := range []map[string]int64{reserved, sold} {
		for id, q := range m {
			if !known[id] && q != 0 {
				t.add(id, "held by reservations but not stocked")
			}
		}
	}
	return t.result(CheckStock, "products", len(d.Stock), "conserved, none negative, reserved and sold match the reservations")
}

// checkOrphans: no money and no stock held for an order the order service
// does not know. Voided or released tombstones hold nothing and are fine.
func checkOrphans(d Data, ix indexes) Result {
	var t tally
	tombstones := 0
	for _, c := range d.Charges {
		if _, ok := ix.orders[c.OrderID]; ok {
			continue
		}
		if c.Net() != 0 {
			t.add(c.OrderID, "charged without an order")
		} else {
			tombstones++
		}
	}
	for _, r := range d.Reservations {
		if _, ok := ix.orders[r.OrderID]; ok {
			continue
		}
		if r.Status == ReservationReserved || r.Status == ReservationCommitted {
			t.add(r.OrderID, "holding stock without an order")
		} else {
			tombstones++
		}
	}
	return t.result(CheckOrphans, "charges and reservations", len(d.Charges)+len(d.Reservations),
		fmt.Sprintf("every charge and held reservation has an order (%d tombstones without one hold nothing)", tombstones))
}

// checkExpected: every order the load generator saw accepted is in the
// order audit, one an order confirmed is not cancelled since, and one
// idempotency key made at most one order. It returns how many were lost
// and the orders beyond the first of a key.
func checkExpected(ix indexes, exp *Expectations) (Result, int, int) {
	var t tally
	lost, dups := 0, 0
	byKey := map[string]map[string]bool{}
	seen := map[string]bool{}
	for _, a := range exp.Accepted {
		if a.IdempotencyKey != "" {
			if byKey[a.IdempotencyKey] == nil {
				byKey[a.IdempotencyKey] = map[string]bool{}
			}
			byKey[a.IdempotencyKey][a.ID] = true
		}
		if seen[a.ID] {
			continue // a retry that got the same order back
		}
		seen[a.ID] = true
		o, ok := ix.orders[a.ID]
		switch {
		case !ok:
			t.add(a.ID, "accepted then lost")
			lost++
		case a.Status == OrderConfirmed && !confirmed(o):
			t.add(a.ID, "confirmed then "+o.Status)
		}
	}
	for _, ids := range byKey {
		if len(ids) > 1 {
			for id := range ids {
				t.add(id, "sharing an idempotency key with another order")
			}
			dups += len(ids) - 1
		}
	}
	resolved := 0
	for _, a := range exp.Ambiguous {
		if a.IdempotencyKey != "" && len(byKey[a.IdempotencyKey]) > 0 {
			resolved++
		}
	}
	unclaimed := 0
	for id := range ix.orders {
		if !seen[id] {
			unclaimed++
		}
	}
	info := fmt.Sprintf("%d ambiguous outcomes (%d accepted later under the same key); %d audited order(s) not in the file", len(exp.Ambiguous), resolved, unclaimed)
	r := t.result(CheckExpected, "accepted orders", len(seen), "every accepted order is in the audit; "+info)
	if !r.OK {
		r.Detail = info + "; " + r.Detail // the ids follow the reasons when printed
	}
	return r, lost, dups
}
