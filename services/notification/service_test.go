package notification

import (
	"context"
	"encoding/json"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

var start = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// newService returns a service whose clock moves one second per reading,
// so messages recorded one after another have distinct times.
func newService(t *testing.T, open func(fs.FS) *sqlstore.DB) (*Service, *sqlstore.DB) {
	t.Helper()
	db := open(Migrations())
	var ticks atomic.Int64
	clock := func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * time.Second) }
	return NewService(db, clock), db
}

// event builds a delivered event of typ carrying data.
func event(t *testing.T, typ string, data any) events.Event {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return events.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Data: b, Delivery: 1}
}

func placed(order, customer string) OrderPlaced {
	return OrderPlaced{
		OrderID: order, CustomerID: customer, Email: customer + "@example.com", Name: "Ada",
		Items: []Item{
			{ProductID: "4521", Name: "Espresso cup", Quantity: 2, PriceCents: 1250},
			{ProductID: "77", Name: "Saucer", Quantity: 1, PriceCents: 2499},
		},
		TotalCents: 4999, Currency: "USD", TransactionID: "txn_1",
	}
}

func cancelled(order, customer string) OrderCancelled {
	return OrderCancelled{OrderID: order, CustomerID: customer, Email: customer + "@example.com", Name: "Ada", Reason: "the card was declined", Code: "payment_declined"}
}

func shipped(order, customer string) OrderShipped {
	return OrderShipped{OrderID: order, TaskID: "task-1", CustomerID: customer, Email: customer + "@example.com", ShippedAt: start}
}

func countMessages(t *testing.T, db *sqlstore.DB, order, kind string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM messages WHERE order_id = ? AND kind = ?`, order, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// handlers pairs each consumer with a valid event for it.
func handlers(t *testing.T, svc *Service, order, customer string) []struct {
	kind   string
	handle func(context.Context, events.Event) error
	ev     events.Event
} {
	return []struct {
		kind   string
		handle func(context.Context, events.Event) error
		ev     events.Event
	}{
		{KindConfirmation, svc.HandleOrderPlaced, event(t, "ORDER_PLACED", placed(order, customer))},
		{KindCancelled, svc.HandleOrderCancelled, event(t, "ORDER_CANCELLED", cancelled(order, customer))},
		{KindShipped, svc.HandleOrderShipped, event(t, "ORDER_SHIPPED", shipped(order, customer))},
	}
}

func TestConsumersApplyEachEventOnce(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ctx := context.Background()
		for _, h := range handlers(t, svc, "o1", "u1") {
			for range 2 {
				if err := h.handle(ctx, h.ev); err != nil {
					t.Fatalf("%s: %v", h.kind, err)
				}
			}
			if got := countMessages(t, db, "o1", h.kind); got != 1 {
				t.Errorf("%s applied twice: %d messages, want 1", h.kind, got)
			}
			var inbox int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM inbox WHERE event_id = ?`, h.ev.ID).Scan(&inbox); err != nil || inbox != 1 {
				t.Errorf("%s: inbox rows = %d (%v), want 1", h.kind, inbox, err)
			}
		}
	})
}

func TestRedeliveryAfterInboxPruneWritesNothing(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ctx := context.Background()
		ev := event(t, "ORDER_PLACED", placed("o1", "u1"))
		if err := svc.HandleOrderPlaced(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if _, err := db.PruneInbox(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := svc.HandleOrderPlaced(ctx, ev); err != nil {
			t.Fatalf("redelivery after prune: %v", err)
		}
		if got := countMessages(t, db, "o1", KindConfirmation); got != 1 {
			t.Errorf("messages = %d, want 1", got)
		}
	})
}

func TestConcurrentRedeliveryWritesOneMessage(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ev := event(t, "ORDER_PLACED", placed("hot", "u1"))
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := svc.HandleOrderPlaced(context.Background(), ev); err != nil {
					t.Errorf("handle: %v", err)
				}
			})
		}
		wg.Wait()
		if got := countMessages(t, db, "hot", KindConfirmation); got != 1 {
			t.Errorf("messages = %d, want 1", got)
		}
	})
}

func TestEmails(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx := context.Background()
		for _, h := range handlers(t, svc, "o1", "u1") {
			if err := h.handle(ctx, h.ev); err != nil {
				t.Fatal(err)
			}
		}
		page, err := svc.List(ctx, "u1", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Message{}
		for _, m := range page.Items {
			got[m.Kind] = m
		}
		tests := []struct {
			kind    string
			subject string
			body    []string
		}{
			{KindConfirmation, "Your Souk order o1 is confirmed", []string{"Hi Ada,", "2 x Espresso cup  $25.00", "1 x Saucer  $24.99", "Total: $49.99", "txn_1"}},
			{KindCancelled, "Your Souk order o1 was cancelled", []string{"Hi Ada,", "cancelled: the card was declined."}},
			{KindShipped, "Your Souk order o1 has shipped", []string{"left our warehouse on 27 November 2026 at 12:00 UTC"}},
		}
		for _, tt := range tests {
			m := got[tt.kind]
			if m.Subject != tt.subject || m.To != "u1@example.com" || m.OrderID != "o1" {
				t.Errorf("%s: subject %q to %q order %q; want %q to u1@example.com order o1", tt.kind, m.Subject, m.To, m.OrderID, tt.subject)
			}
			for _, want := range tt.body {
				if !strings.Contains(m.Body, want) {
					t.Errorf("%s body lacks %q:\n%s", tt.kind, want, m.Body)
				}
			}
		}
	})
}

func TestMalformedEventsArePermanent(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ctx := context.Background()
		noEmail := placed("o1", "u1")
		noEmail.Email = ""
		noCustomer := cancelled("o1", "")
		longOrder := shipped(strings.Repeat("x", 65), "u1")
		tests := []struct {
			name   string
			handle func(context.Context, events.Event) error
			ev     events.Event
		}{
			{"placed: not JSON", svc.HandleOrderPlaced, events.Event{ID: "e1", Data: json.RawMessage(`{"order_id":`)}},
			{"placed: wrong type", svc.HandleOrderPlaced, events.Event{ID: "e2", Data: json.RawMessage(`{"order_id":7}`)}},
			{"placed: no email", svc.HandleOrderPlaced, event(t, "ORDER_PLACED", noEmail)},
			{"cancelled: not JSON", svc.HandleOrderCancelled, events.Event{ID: "e3", Data: json.RawMessage(`[`)}},
			{"cancelled: no customer", svc.HandleOrderCancelled, event(t, "ORDER_CANCELLED", noCustomer)},
			{"shipped: bad time", svc.HandleOrderShipped, events.Event{ID: "e4", Data: json.RawMessage(`{"order_id":"o1","shipped_at":"yesterday"}`)}},
			{"shipped: long order id", svc.HandleOrderShipped, event(t, "ORDER_SHIPPED", longOrder)},
		}
		for _, tt := range tests {
			if err := tt.handle(ctx, tt.ev); !events.IsPermanent(err) {
				t.Errorf("%s: err = %v, want a permanent error", tt.name, err)
			}
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM messages`).Scan(&n); err != nil || n != 0 {
			t.Errorf("messages = %d (%v), want none", n, err)
		}
	})
}

func TestListShowsOnlyTheCallersMessagesNewestFirst(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx := context.Background()
		for _, order := range []string{"o1", "o2", "o3"} {
			if err := svc.HandleOrderPlaced(ctx, event(t, "ORDER_PLACED", placed(order, "alice"))); err != nil {
				t.Fatal(err)
			}
		}
		if err := svc.HandleOrderPlaced(ctx, event(t, "ORDER_PLACED", placed("o4", "bob"))); err != nil {
			t.Fatal(err)
		}

		var got []string
		cur := ""
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("paging does not end")
			}
			page, err := svc.List(ctx, "alice", cur, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page.Items {
				got = append(got, m.OrderID)
			}
			if cur = page.NextCursor; cur == "" {
				break
			}
		}
		if diff := cmp.Diff([]string{"o3", "o2", "o1"}, got); diff != "" {
			t.Errorf("alice's orders (-want +got):\n%s", diff)
		}

		for _, user := range []string{"carol", "alice@example.com", "o4"} {
			page, err := svc.List(ctx, user, "", 10)
			if err != nil || len(page.Items) != 0 || page.NextCursor != "" {
				t.Errorf("%s sees %+v (%v), want nothing", user, page, err)
			}
		}
	})
}

func TestListRejectsBadInput(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		tests := []struct {
			name   string
			cursor string
			limit  int
		}{
			{"limit 0", "", 0},
			{"limit 101", "", 101},
			{"negative limit", "", -1},
			{"garbage cursor", "abc", 10},
			{"no id", "123.", 10},
			{"bad time", "x1." + uuid.NewString(), 10},
			{"negative time", "-1." + uuid.NewString(), 10},
			{"bad id", "123." + strings.Repeat("z", 36), 10},
			{"huge cursor", strings.Repeat("9", 10000), 10},
		}
		for _, tt := range tests {
			_, err := svc.List(context.Background(), "u1", tt.cursor, tt.limit)
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("%s: err = %v, want Invalid", tt.name, err)
			}
		}
	})
}

func TestAuditCountsPerOrderAndKind(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx := context.Background()
		apply := func(h func(context.Context, events.Event) error, ev events.Event) {
			t.Helper()
			if err := h(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		apply(svc.HandleOrderPlaced, event(t, "ORDER_PLACED", placed("a:1", "u1")))
		apply(svc.HandleOrderShipped, event(t, "ORDER_SHIPPED", shipped("a:1", "u1")))
		apply(svc.HandleOrderCancelled, event(t, "ORDER_CANCELLED", cancelled("b", "u2")))
		// Two distinct events for one order: two emails, which the audit
		// must show (the invariant wants one).
		apply(svc.HandleOrderPlaced, event(t, "ORDER_PLACED", placed("c", "u3")))
		apply(svc.HandleOrderPlaced, event(t, "ORDER_PLACED", placed("c", "u3")))
		redelivered := event(t, "ORDER_PLACED", placed("d", "u3"))
		apply(svc.HandleOrderPlaced, redelivered)
		apply(svc.HandleOrderPlaced, redelivered)

		want := []Audit{
			{"a:1", KindConfirmation, 1}, {"a:1", KindShipped, 1},
			{"b", KindCancelled, 1}, {"c", KindConfirmation, 2}, {"d", KindConfirmation, 1},
		}
		for _, limit := range []int{1, 2, 5, 100} {
			var got []Audit
			cur := ""
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("limit %d: paging does not end", limit)
				}
				page, err := svc.Audit(ctx, cur, limit)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page.Items...)
				if cur = page.NextCursor; cur == "" {
					break
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("limit %d: audit (-want +got):\n%s", limit, diff)
			}
		}

		for _, cur := range []string{"nocolon", ":order_confirmation", "a:bogus", strings.Repeat("x", 65) + ":order_shipped"} {
			if _, err := svc.Audit(ctx, cur, 10); !fault.Is(err, fault.Invalid) {
				t.Errorf("cursor %q: err = %v, want Invalid", cur, err)
			}
		}
		for _, limit := range []int{0, 5001} {
			if _, err := svc.Audit(ctx, "", limit); !fault.Is(err, fault.Invalid) {
				t.Errorf("limit %d: err = %v, want Invalid", limit, err)
			}
		}
	})
}

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		cents    int64
		currency string
		want     string
	}{
		{4999, "USD", "$49.99"},
		{1234, "EUR", "12.34 EUR"},
		{5, "USD", "$0.05"},
		{0, "GBP", "0.00 GBP"},
		{100_000_00, "USD", "$100000.00"},
		{-250, "USD", "-$2.50"},
		{-9223372036854775808, "EUR", "-92233720368547758.08 EUR"},
	}
	for _, tt := range tests {
		if got := FormatMoney(tt.cents, tt.currency); got != tt.want {
			t.Errorf("FormatMoney(%d, %s) = %q, want %q", tt.cents, tt.currency, got, tt.want)
		}
	}
}

func TestEmailsKeepEventTextOnOneLine(t *testing.T) {
	p := placed("o1\r\nBcc: all@example.com", "u1")
	p.Name = "Ada\n\nYour account is locked"
	p.Items[0].Name = "cup\x00"
	subject, body := confirmation(p)
	if strings.ContainsAny(subject, "\r\n") {
		t.Errorf("subject %q holds a line break", subject)
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "Your account") || strings.ContainsRune(line, 0) {
			t.Errorf("body line %q comes from event text", line)
		}
	}
}
