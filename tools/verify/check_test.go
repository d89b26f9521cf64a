package verify

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// clean is a dataset where every invariant holds: a confirmed order, a
// shipped one, one declined before any capture, one refunded after a
// capture, and tombstones of voided orders the order service never kept.
func clean() (Data, *Expectations) {
	d := Data{
		Orders: []Order{
			{OrderID: "o1", Status: OrderConfirmed, TotalCents: 2000, Currency: "USD", Items: []Item{{"p1", 2}}},
			{OrderID: "o2", Status: OrderShipped, TotalCents: 500, Currency: "USD", Items: []Item{{"p2", 1}}},
			{OrderID: "o3", Status: OrderCancelled, TotalCents: 1000, Currency: "USD", Items: []Item{{"p1", 1}}},
			{OrderID: "o4", Status: OrderCancelled, TotalCents: 700, Currency: "USD", Items: []Item{{"p2", 1}}},
		},
		Charges: []Charge{
			{OrderID: "ghost", Status: "voided", Currency: "USD"},
			{OrderID: "o1", Status: "captured", CapturedCents: 2000, Captures: 1, Currency: "USD"},
			{OrderID: "o2", Status: "captured", CapturedCents: 500, Captures: 1, Currency: "USD"},
			{OrderID: "o3", Status: "declined", Currency: "USD"},
			{OrderID: "o4", Status: "refunded", CapturedCents: 700, RefundedCents: 700, Captures: 1, Refunds: 1, Currency: "USD"},
		},
		Stock: []Stock{
			{ProductID: "p1", Initial: 10, Restocked: 2, Available: 10, Reserved: 0, Sold: 2},
			{ProductID: "p2", Initial: 5, Restocked: -1, Available: 3, Reserved: 0, Sold: 1},
		},
		Reservations: []Reservation{
			{OrderID: "ghost2", Status: ReservationReleased},
			{OrderID: "o1", Status: ReservationCommitted, Items: []Item{{"p1", 2}}},
			{OrderID: "o2", Status: ReservationCommitted, Items: []Item{{"p2", 1}}},
			{OrderID: "o3", Status: ReservationReleased, Items: []Item{{"p1", 1}}},
			{OrderID: "o4", Status: ReservationReleased, Items: []Item{{"p2", 1}}},
		},
		Notifications: []Notification{
			{OrderID: "o1", Kind: KindConfirmation, Count: 1},
			{OrderID: "o2", Kind: KindConfirmation, Count: 1},
			{OrderID: "o2", Kind: "order_shipped", Count: 1},
			{OrderID: "o3", Kind: "order_cancelled", Count: 1},
			{OrderID: "o4", Kind: "order_cancelled", Count: 1},
		},
		Tasks: []Task{
			{OrderID: "o1", Tasks: 1, Status: "pending"},
			{OrderID: "o2", Tasks: 1, Status: "shipped"},
		},
	}
	exp := &Expectations{
		Accepted: []Accepted{
			{ID: "o1", Status: OrderConfirmed, IdempotencyKey: "k1"},
			{ID: "o2", Status: OrderConfirmed, IdempotencyKey: "k2"},
			{ID: "o4", Status: OrderPending, IdempotencyKey: "k4"},
			{ID: "o1", Status: OrderConfirmed, IdempotencyKey: "k1"}, // a retry answered with the same order
		},
		Ambiguous: []Ambiguous{{IdempotencyKey: "k1", Error: "timeout"}, {IdempotencyKey: "k9", Error: "connection reset"}},
	}
	return d, exp
}

func TestCheckClean(t *testing.T) {
	d, exp := clean()
	rep := Check(d, exp)
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("%s failed on clean data: %s %v", c.Name, c.Detail, c.Violations)
		}
	}
	if !rep.OK {
		t.Fatal("clean data: report not OK")
	}
	var names []string
	for _, c := range rep.Checks {
		names = append(names, c.Name)
	}
	wantNames := []string{CheckTerminal, CheckCharged, CheckCommitted, CheckEmail, CheckTask, CheckCancelledClean, CheckStock, CheckOrphans, CheckExpected}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	want := Summary{Orders: 4, Confirmed: 1, Shipped: 1, Cancelled: 2, Products: 2, Charges: 5, Reservations: 5, Emails: 2, Tasks: 2, Accepted: 4, Ambiguous: 2}
	if diff := cmp.Diff(want, rep.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	checked := map[string]int{}
	for _, c := range rep.Checks {
		checked[c.Name] = c.Checked
	}
	wantChecked := map[string]int{CheckTerminal: 4, CheckCharged: 2, CheckCommitted: 2, CheckEmail: 2, CheckTask: 2, CheckCancelledClean: 2, CheckStock: 2, CheckOrphans: 10, CheckExpected: 3}
	if diff := cmp.Diff(wantChecked, checked); diff != "" {
		t.Errorf("checked (-want +got):\n%s", diff)
	}
	exp2 := rep.Checks[len(rep.Checks)-1].Detail
	if !strings.Contains(exp2, "2 ambiguous outcomes (1 accepted later under the same key)") || !strings.Contains(exp2, "1 audited order(s) not in the file") {
		t.Errorf("expected_orders detail = %q", exp2)
	}
	// Without expectations there is no expected_orders check.
	if rep := Check(d, nil); len(rep.Checks) != 8 || !rep.OK {
		t.Errorf("without expectations: %d checks, ok %v", len(rep.Checks), rep.OK)
	}
}

// order returns a pointer to the order id of d, for mutations.
func order(d *Data, id string) *Order {
	for i := range d.Orders {
		if d.Orders[i].OrderID == id {
			return &d.Orders[i]
		}
	}
	panic("no order " + id)
}

func charge(d *Data, id string) *Charge {
	for i := range d.Charges {
		if d.Charges[i].OrderID == id {
			return &d.Charges[i]
		}
	}
	panic("no charge " + id)
}

func reservation(d *Data, id string) *Reservation {
	for i := range d.Reservations {
		if d.Reservations[i].OrderID == id {
			return &d.Reservations[i]
		}
	}
	panic("no reservation " + id)
}

func stock(d *Data, id string) *Stock {
	for i := range d.Stock {
		if d.Stock[i].ProductID == id {
			return &d.Stock[i]
		}
	}
	panic("no stock " + id)
}

func task(d *Data, id string) *Task {
	for i := range d.Tasks {
		if d.Tasks[i].OrderID == id {
			return &d.Tasks[i]
		}
	}
	panic("no task " + id)
}

func email(d *Data, id string) *Notification {
	for i := range d.Notifications {
		if d.Notifications[i].OrderID == id && d.Notifications[i].Kind == KindConfirmation {
			return &d.Notifications[i]
		}
	}
	panic("no email " + id)
}

func without[T any](s []T, drop func(T) bool) []T {
	return slices.DeleteFunc(slices.Clone(s), drop)
}

// violation is a way to break one invariant of clean().
type violation struct {
	name     string
	mutate   func(d *Data, e *Expectations)
	check    string
	ids      []string
	reason   string
	dups     int
	lost     int
	moreFail []string // other checks the mutation breaks as well
}

var violations = []violation{
	{name: "order still pending", check: CheckTerminal, ids: []string{"o1"}, reason: "still PENDING",
		mutate: func(d *Data, _ *Expectations) {
			order(d, "o1").Status = OrderPending
			d.Notifications = without(d.Notifications, func(n Notification) bool { return n.OrderID == "o1" })
			d.Tasks = without(d.Tasks, func(t Task) bool { return t.OrderID == "o1" })
		},
		// A confirmed order the load saw is PENDING again.
		moreFail: []string{CheckExpected}},
	{name: "order in unknown status", check: CheckTerminal, ids: []string{"o3"}, reason: "unknown status",
		mutate: func(d *Data, _ *Expectations) { order(d, "o3").Status = "LIMBO" }},

	{name: "confirmed without a charge", check: CheckCharged, ids: []string{"o1"}, reason: "without a charge",
		mutate: func(d *Data, _ *Expectations) {
			d.Charges = without(d.Charges, func(c Charge) bool { return c.OrderID == "o1" })
		}},
	{name: "confirmed never captured", check: CheckCharged, ids: []string{"o2"}, reason: "never captured",
		mutate: func(d *Data, _ *Expectations) { *charge(d, "o2") = Charge{OrderID: "o2", Status: "declined"} }},
	{name: "confirmed captured twice", check: CheckCharged, ids: []string{"o1"}, reason: "captured more than once", dups: 1,
		mutate: func(d *Data, _ *Expectations) { charge(d, "o1").Captures = 2 }},
	{name: "confirmed captured three times for double", check: CheckCharged, ids: []string{"o1"}, reason: "captured an amount other than the total", dups: 2,
		mutate: func(d *Data, _ *Expectations) { c := charge(d, "o1"); c.Captures, c.CapturedCents = 3, 6000 }},
	{name: "confirmed captured the wrong amount", check: CheckCharged, ids: []string{"o2"}, reason: "captured an amount other than the total",
		mutate: func(d *Data, _ *Expectations) { charge(d, "o2").CapturedCents = 499 }},
	{name: "confirmed refunded", check: CheckCharged, ids: []string{"o1"}, reason: "refunded",
		mutate: func(d *Data, _ *Expectations) { c := charge(d, "o1"); c.Refunds, c.RefundedCents = 1, 2000 }},
	{name: "confirmed in another currency", check: CheckCharged, ids: []string{"o1"}, reason: "another currency",
		mutate: func(d *Data, _ *Expectations) { charge(d, "o1").Currency = "EUR" }},

	{name: "confirmed without a reservation", check: CheckCommitted, ids: []string{"o1"}, reason: "without a reservation",
		mutate: func(d *Data, _ *Expectations) {
			d.Reservations = without(d.Reservations, func(r Reservation) bool { return r.OrderID == "o1" })
			s := stock(d, "p1")
			s.Sold, s.Available = 0, 12
		}},
	{name: "confirmed with stock only reserved", check: CheckCommitted, ids: []string{"o1"}, reason: "with its reservation reserved",
		mutate: func(d *Data, _ *Expectations) {
			reservation(d, "o1").Status = ReservationReserved
			s := stock(d, "p1")
			s.Sold, s.Reserved = 0, 2
		}},
	{name: "confirmed with stock released", check: CheckCommitted, ids: []string{"o2"}, reason: "with its reservation released",
		mutate: func(d *Data, _ *Expectations) {
			reservation(d, "o2").Status = ReservationReleased
			s := stock(d, "p2")
			s.Sold, s.Available = 0, 4
		}},
	{name: "confirmed with other items committed", check: CheckCommitted, ids: []string{"o1"}, reason: "other items",
		mutate: func(d *Data, _ *Expectations) {
			reservation(d, "o1").Items = []Item{{"p1", 3}}
			s := stock(d, "p1")
			s.Sold, s.Available = 3, 9
		}},

	{name: "confirmed without an email", check: CheckEmail, ids: []string{"o2"}, reason: "without a confirmation email",
		mutate: func(d *Data, _ *Expectations) {
			d.Notifications = without(d.Notifications, func(n Notification) bool { return n.OrderID == "o2" && n.Kind == KindConfirmation })
		}},
	{name: "confirmed with two emails", check: CheckEmail, ids: []string{"o1"}, reason: "more than one", dups: 1,
		mutate: func(d *Data, _ *Expectations) { email(d, "o1").Count = 2 }},

	{name: "confirmed without a task", check: CheckTask, ids: []string{"o1"}, reason: "without a warehouse task",
		mutate: func(d *Data, _ *Expectations) {
			d.Tasks = without(d.Tasks, func(t Task) bool { return t.OrderID == "o1" })
		}},
	{name: "confirmed with two tasks", check: CheckTask, ids: []string{"o2"}, reason: "more than one warehouse task", dups: 1,
		mutate: func(d *Data, _ *Expectations) { task(d, "o2").Tasks = 2 }},
	{name: "shipped with its task pending", check: CheckTask, ids: []string{"o2"}, reason: "SHIPPED while its task is pending",
		mutate: func(d *Data, _ *Expectations) { task(d, "o2").Status = "pending" }},

	{name: "cancelled with a net charge", check: CheckCancelledClean, ids: []string{"o4"}, reason: "with a net charge",
		mutate: func(d *Data, _ *Expectations) { c := charge(d, "o4"); c.Refunds, c.RefundedCents = 0, 0 }},
	{name: "cancelled captured twice", check: CheckCancelledClean, ids: []string{"o4"}, reason: "captured more than once", dups: 1,
		mutate: func(d *Data, _ *Expectations) {
			c := charge(d, "o4")
			c.Captures, c.CapturedCents, c.Refunds, c.RefundedCents = 2, 1400, 2, 1400
		}},
	{name: "cancelled with stock reserved", check: CheckCancelledClean, ids: []string{"o3"}, reason: "with stock still reserved",
		mutate: func(d *Data, _ *Expectations) {
			reservation(d, "o3").Status = ReservationReserved
			s := stock(d, "p1")
			s.Reserved, s.Available = 1, 9
		}},
	{name: "cancelled with stock committed", check: CheckCancelledClean, ids: []string{"o3"}, reason: "with its stock committed",
		mutate: func(d *Data, _ *Expectations) {
			reservation(d, "o3").Status = ReservationCommitted
			s := stock(d, "p1")
			s.Sold, s.Available = 3, 9
		}},
	{name: "cancelled with a task", check: CheckCancelledClean, ids: []string{"o3"}, reason: "with a warehouse task",
		mutate: func(d *Data, _ *Expectations) {
			d.Tasks = append(d.Tasks, Task{OrderID: "o3", Tasks: 1, Status: "pending"})
		}},
	{name: "cancelled with a confirmation email", check: CheckCancelledClean, ids: []string{"o4"}, reason: "with a confirmation email",
		mutate: func(d *Data, _ *Expectations) {
			d.Notifications = append(d.Notifications, Notification{OrderID: "o4", Kind: KindConfirmation, Count: 1})
		}},

	{name: "stock not conserved", check: CheckStock, ids: []string{"p1"}, reason: "initial + restocked ≠",
		mutate: func(d *Data, _ *Expectations) { stock(d, "p1").Available = 11 }},
	{name: "stock negative", check: CheckStock, ids: []string{"p2"}, reason: "negative",
		mutate: func(d *Data, _ *Expectations) { s := stock(d, "p2"); s.Restocked, s.Available = -7, -3 }},
	{name: "reserved not matching reservations", check: CheckStock, ids: []string{"p1"}, reason: "reserved ≠",
		mutate: func(d *Data, _ *Expectations) { s := stock(d, "p1"); s.Reserved, s.Available = 1, 9 }},
	{name: "sold not matching commits", check: CheckStock, ids: []string{"p2"}, reason: "sold ≠",
		mutate: func(d *Data, _ *Expectations) { s := stock(d, "p2"); s.Sold, s.Available = 2, 2 }},
	{name: "reservation of an unstocked product", check: CheckStock, ids: []string{"p9"}, reason: "not stocked",
		mutate: func(d *Data, _ *Expectations) {
			o := order(d, "o1")
			o.Items = append(slices.Clone(o.Items), Item{"p9", 1})
			r := reservation(d, "o1")
			r.Items = append(slices.Clone(r.Items), Item{"p9", 1})
		}},

	{name: "money without an order", check: CheckOrphans, ids: []string{"ghost"}, reason: "charged without an order",
		mutate: func(d *Data, _ *Expectations) { c := charge(d, "ghost"); c.Captures, c.CapturedCents = 1, 100 }},
	{name: "stock held without an order", check: CheckOrphans, ids: []string{"ghost2"}, reason: "holding stock without an order",
		mutate: func(d *Data, _ *Expectations) {
			r := reservation(d, "ghost2")
			r.Status, r.Items = ReservationReserved, []Item{{"p1", 1}}
			s := stock(d, "p1")
			s.Reserved, s.Available = 1, 9
		}},
	{name: "stock sold without an order", check: CheckOrphans, ids: []string{"ghost2"}, reason: "holding stock without an order",
		mutate: func(d *Data, _ *Expectations) {
			r := reservation(d, "ghost2")
			r.Status, r.Items = ReservationCommitted, []Item{{"p2", 1}}
			s := stock(d, "p2")
			s.Sold, s.Available = 2, 2
		}},

	{name: "accepted then lost", check: CheckExpected, ids: []string{"o7"}, reason: "accepted then lost", lost: 1,
		mutate: func(_ *Data, e *Expectations) {
			e.Accepted = append(e.Accepted, Accepted{ID: "o7", Status: OrderConfirmed, IdempotencyKey: "k7"})
		}},
	{name: "confirmed then cancelled", check: CheckExpected, ids: []string{"o3"}, reason: "confirmed then CANCELLED",
		mutate: func(_ *Data, e *Expectations) {
			e.Accepted = append(e.Accepted, Accepted{ID: "o3", Status: OrderConfirmed, IdempotencyKey: "k3"})
		}},
	{name: "one key, two orders", check: CheckExpected, ids: []string{"o1", "o2"}, reason: "sharing an idempotency key", dups: 1,
		mutate: func(_ *Data, e *Expectations) { e.Accepted[1].IdempotencyKey = "k1" }},
}

// TestCheckViolations breaks each invariant on its own: exactly the named
// check fails, with exactly the ids involved.
func TestCheckViolations(t *testing.T) {
	for _, tt := range violations {
		t.Run(tt.name, func(t *testing.T) {
			d, exp := clean()
			tt.mutate(&d, exp)
			rep := Check(d, exp)
			if rep.OK {
				t.Fatal("report OK, want a violation")
			}
			var failed []string
			for _, c := range rep.Checks {
				if c.OK {
					if len(c.Violations) != 0 || c.ViolationCount != 0 {
						t.Errorf("%s OK with violations %v", c.Name, c.Violations)
					}
					continue
				}
				failed = append(failed, c.Name)
				if c.Name != tt.check {
					continue
				}
				if diff := cmp.Diff(tt.ids, c.Violations); diff != "" {
					t.Errorf("%s violations (-want +got):\n%s", c.Name, diff)
				}
				if c.ViolationCount != len(tt.ids) {
					t.Errorf("%s violation_count = %d, want %d", c.Name, c.ViolationCount, len(tt.ids))
				}
				if !strings.Contains(c.Detail, tt.reason) {
					t.Errorf("%s detail = %q, want it to contain %q", c.Name, c.Detail, tt.reason)
				}
			}
			want := append([]string{tt.check}, tt.moreFail...)
			slices.Sort(want)
			slices.Sort(failed)
			if diff := cmp.Diff(want, failed); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s", diff)
			}
			if rep.Summary.Duplicates != tt.dups {
				t.Errorf("duplicates = %d, want %d", rep.Summary.Duplicates, tt.dups)
			}
			if rep.Summary.Lost != tt.lost {
				t.Errorf("lost = %d, want %d", rep.Summary.Lost, tt.lost)
			}
		})
	}
}

// TestCheckEveryCheckCanFail guards the table above: a new check needs a
// case that breaks it.
func TestCheckEveryCheckCanFail(t *testing.T) {
	d, exp := clean()
	names := map[string]bool{}
	for _, c := range Check(d, exp).Checks {
		names[c.Name] = true
	}
	covered := map[string]bool{}
	for _, v := range violations {
		covered[v.check] = true
	}
	if diff := cmp.Diff(names, covered); diff != "" {
		t.Errorf("checks without a violating case in violations (-checks +covered):\n%s", diff)
	}
}

func TestCheckSameItemsIgnoresSplitLines(t *testing.T) {
	tests := []struct {
		a, b []Item
		want bool
	}{
		{[]Item{{"p1", 2}}, []Item{{"p1", 1}, {"p1", 1}}, true},
		{[]Item{{"p1", 2}, {"p2", 1}}, []Item{{"p2", 1}, {"p1", 2}}, true},
		{[]Item{{"p1", 2}}, []Item{{"p1", 2}, {"p2", 0}}, true},
		{[]Item{{"p1", 2}}, []Item{{"p1", 1}}, false},
		{[]Item{{"p1", 2}}, nil, false},
		{nil, nil, true},
	}
	for _, tt := range tests {
		if got := sameItems(tt.a, tt.b); got != tt.want {
			t.Errorf("sameItems(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
