package warehouse

import (
	"context"
	"encoding/json"
	"errors"
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

// newService returns a service whose clock moves one second per reading.
func newService(t *testing.T, open func(fs.FS) *sqlstore.DB) (*Service, *sqlstore.DB) {
	t.Helper()
	db := open(Migrations())
	var ticks atomic.Int64
	clock := func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * time.Second) }
	return NewService(db, clock, nil), db
}

func placed(t *testing.T, order string) events.Event {
	t.Helper()
	data, err := json.Marshal(map[string]any{
		"order_id": order, "customer_id": "alice", "email": "alice@example.com", "name": "Alice",
		"items":       []map[string]any{{"product_id": "4521", "name": "Espresso cup", "quantity": 2, "price_cents": 2500}},
		"total_cents": 5000, "currency": "USD", "transaction_id": "txn_1", "placed_at": start,
	})
	if err != nil {
		t.Fatal(err)
	}
	return events.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: "ORDER_PLACED", Source: "order", Key: order, Data: data, Delivery: 1}
}

// mustTask creates the task of order and returns it.
func mustTask(t *testing.T, svc *Service, order string) Task {
	t.Helper()
	ctx := context.Background()
	if err := svc.HandleOrderPlaced(ctx, placed(t, order)); err != nil {
		t.Fatal(err)
	}
	page, err := svc.List(ctx, ListQuery{OrderID: order, Limit: 10})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("tasks of %s: %+v, %v; want one", order, page.Items, err)
	}
	return page.Items[0]
}

func count(t *testing.T, db *sqlstore.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOrderPlacedMakesOneTask(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ctx := context.Background()
		ev := placed(t, "o1")
		for range 2 {
			if err := svc.HandleOrderPlaced(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		// Another event about the same order: the UNIQUE order_id holds.
		if err := svc.HandleOrderPlaced(ctx, placed(t, "o1")); err != nil {
			t.Fatal(err)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM tasks WHERE order_id = 'o1'`); got != 1 {
			t.Fatalf("tasks = %d, want 1", got)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM inbox WHERE consumer = ? AND event_id = ?`, ConsumerOrderPlaced, ev.ID); got != 1 {
			t.Errorf("inbox rows = %d, want 1", got)
		}
		task := mustTask(t, svc, "o1")
		want := Task{
			ID: task.ID, OrderID: "o1", CustomerID: "alice", Email: "alice@example.com",
			Items:  []Item{{ProductID: "4521", Name: "Espresso cup", Quantity: 2}},
			Status: StatusPending, CreatedAt: start.Add(time.Second),
		}
		if diff := cmp.Diff(want, task); diff != "" {
			t.Errorf("task (-want +got):\n%s", diff)
		}
	})
}

func TestConcurrentDeliveriesMakeOneTask(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ev := placed(t, "hot")
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				e := ev
				if i%2 == 1 {
					e = placed(t, "hot") // a distinct event for the same order
				}
				if err := svc.HandleOrderPlaced(context.Background(), e); err != nil {
					t.Errorf("handle: %v", err)
				}
			})
		}
		wg.Wait()
		if got := count(t, db, `SELECT COUNT(*) FROM tasks WHERE order_id = 'hot'`); got != 1 {
			t.Errorf("tasks = %d, want 1", got)
		}
	})
}

func TestMalformedOrderPlacedIsPermanent(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		tests := []struct{ name, data string }{
			{"not JSON", `{"order_id":`},
			{"wrong type", `{"order_id":"o1","customer_id":"a","email":"a@b.c","items":"many"}`},
			{"no order", `{"customer_id":"a","email":"a@b.c","items":[{"product_id":"p","quantity":1}]}`},
			{"long order", `{"order_id":"` + strings.Repeat("x", 65) + `","customer_id":"a","email":"a@b.c","items":[{"product_id":"p","quantity":1}]}`},
			{"no email", `{"order_id":"o1","customer_id":"a","items":[{"product_id":"p","quantity":1}]}`},
			{"no items", `{"order_id":"o1","customer_id":"a","email":"a@b.c","items":[]}`},
			{"zero quantity", `{"order_id":"o1","customer_id":"a","email":"a@b.c","items":[{"product_id":"p","quantity":0}]}`},
		}
		for _, tt := range tests {
			err := svc.HandleOrderPlaced(context.Background(), events.Event{ID: uuid.NewString(), Type: "ORDER_PLACED", Data: json.RawMessage(tt.data)})
			if !events.IsPermanent(err) {
				t.Errorf("%s: err = %v, want a permanent error", tt.name, err)
			}
		}
		if got := count(t, db, `SELECT COUNT(*) FROM tasks`); got != 0 {
			t.Errorf("tasks = %d, want none", got)
		}
	})
}

func TestShipEmitsOneEvent(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(Migrations())
		notified := 0
		svc := NewService(db, func() time.Time { return start }, func() { notified++ })
		ctx := context.Background()
		task := mustTask(t, svc, "o1")

		got, err := svc.Ship(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusShipped || got.ShippedAt == nil || !got.ShippedAt.Equal(start) {
			t.Errorf("shipped task = %+v", got)
		}
		if _, err := svc.Ship(ctx, task.ID); !fault.Is(err, fault.Conflict) || !fault.HasCode(err, "already_shipped") {
			t.Errorf("second ship: err = %v, want 409 already_shipped", err)
		}
		if notified != 1 {
			t.Errorf("relay notified %d times, want 1", notified)
		}

		var typ, key, data string
		n := 0
		rows, err := db.Query(ctx, `SELECT type, key, data FROM outbox`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			n++
			if err := rows.Scan(&typ, &key, &data); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 1 || typ != EventShipped || key != "o1" {
			t.Fatalf("outbox: %d rows, last %s %s; want one ORDER_SHIPPED keyed o1", n, typ, key)
		}
		var ev Shipped
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatal(err)
		}
		want := Shipped{OrderID: "o1", TaskID: task.ID, CustomerID: "alice", Email: "alice@example.com", ShippedAt: start}
		if diff := cmp.Diff(want, ev); diff != "" {
			t.Errorf("ORDER_SHIPPED data (-want +got):\n%s", diff)
		}

		stored := mustTask(t, svc, "o1")
		if stored.Status != StatusShipped || stored.ShippedAt == nil || !stored.ShippedAt.Equal(start) {
			t.Errorf("stored task = %+v", stored)
		}
	})
}

func TestShipErrors(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		tests := []struct {
			id   string
			kind fault.Kind
		}{
			{uuid.NewString(), fault.NotFound},
			{"not-a-task", fault.NotFound},
			{"", fault.Invalid},
			{strings.Repeat("x", 65), fault.Invalid},
		}
		for _, tt := range tests {
			if _, err := svc.Ship(context.Background(), tt.id); !fault.Is(err, tt.kind) {
				t.Errorf("ship %q: err = %v, want %v", tt.id, err, tt.kind)
			}
		}
		if got := count(t, db, `SELECT COUNT(*) FROM outbox`); got != 0 {
			t.Errorf("outbox rows = %d, want 0", got)
		}
	})
}

func TestConcurrentShipsShipOnce(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		task := mustTask(t, svc, "o1")
		var wg sync.WaitGroup
		var ok, conflicts atomic.Int64
		for range 8 {
			wg.Go(func() {
				_, err := svc.Ship(context.Background(), task.ID)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, errAlreadyShipped):
					conflicts.Add(1)
				default:
					t.Errorf("ship: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || conflicts.Load() != 7 {
			t.Errorf("ships: %d succeeded, %d conflicted; want 1 and 7", ok.Load(), conflicts.Load())
		}
		if got := count(t, db, `SELECT COUNT(*) FROM outbox WHERE type = ?`, EventShipped); got != 1 {
			t.Errorf("ORDER_SHIPPED rows = %d, want 1", got)
		}
	})
}

func TestList(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx := context.Background()
		ids := map[string]string{}
		for _, order := range []string{"o1", "o2", "o3", "o4"} {
			ids[order] = mustTask(t, svc, order).ID
		}
		for _, order := range []string{"o2", "o4"} {
			if _, err := svc.Ship(ctx, ids[order]); err != nil {
				t.Fatal(err)
			}
		}
		orders := func(q ListQuery) []string {
			t.Helper()
			var out []string
			for pages := 0; ; pages++ {
				if pages > 5 {
					t.Fatalf("%+v: paging does not end", q)
				}
				page, err := svc.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, task := range page.Items {
					out = append(out, task.OrderID)
				}
				if q.Cursor = page.NextCursor; q.Cursor == "" {
					return out
				}
			}
		}
		tests := []struct {
			q    ListQuery
			want []string
		}{
			{ListQuery{Limit: 20}, []string{"o1", "o2", "o3", "o4"}},
			{ListQuery{Limit: 1}, []string{"o1", "o2", "o3", "o4"}},
			{ListQuery{Status: StatusPending, Limit: 1}, []string{"o1", "o3"}},
			{ListQuery{Status: StatusShipped, Limit: 20}, []string{"o2", "o4"}},
			{ListQuery{OrderID: "o3", Limit: 20}, []string{"o3"}},
			{ListQuery{OrderID: "o3", Status: StatusShipped, Limit: 20}, nil},
			{ListQuery{OrderID: "nope", Limit: 20}, nil},
		}
		for _, tt := range tests {
			if diff := cmp.Diff(tt.want, orders(tt.q)); diff != "" {
				t.Errorf("%+v (-want +got):\n%s", tt.q, diff)
			}
		}

		bad := []ListQuery{
			{Limit: 0}, {Limit: 101}, {Status: "lost", Limit: 10}, {OrderID: strings.Repeat("x", 65), Limit: 10},
			{Cursor: "o1", Limit: 10}, {Cursor: strings.Repeat("z", 36), Limit: 10},
		}
		for _, q := range bad {
			if _, err := svc.List(ctx, q); !fault.Is(err, fault.Invalid) {
				t.Errorf("%+v: err = %v, want Invalid", q, err)
			}
		}
	})
}

func TestAudit(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		ctx := context.Background()
		for _, order := range []string{"c", "a", "b"} {
			task := mustTask(t, svc, order)
			if order == "b" {
				if _, err := svc.Ship(ctx, task.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A redelivery and a second event for "a" change nothing.
		if err := svc.HandleOrderPlaced(ctx, placed(t, "a")); err != nil {
			t.Fatal(err)
		}
		want := []Audit{{"a", 1, StatusPending}, {"b", 1, StatusShipped}, {"c", 1, StatusPending}}
		for _, limit := range []int{1, 2, 3, 1000} {
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
		for _, tt := range []struct {
			cursor string
			limit  int
		}{{"", 0}, {"", 5001}, {strings.Repeat("x", 65), 10}} {
			if _, err := svc.Audit(ctx, tt.cursor, tt.limit); !fault.Is(err, fault.Invalid) {
				t.Errorf("audit(%q, %d): err = %v, want Invalid", tt.cursor, tt.limit, err)
			}
		}
	})
}
