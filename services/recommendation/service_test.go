package recommendation

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

func newService(t *testing.T, open func(fs.FS) *sqlstore.DB) (*Service, *sqlstore.DB) {
	db := open(Migrations())
	return NewService(db), db
}

// placed returns an ORDER_PLACED event of an order holding products.
func placed(t *testing.T, orderID string, products ...string) events.Event {
	t.Helper()
	items := make([]map[string]any, len(products))
	for i, p := range products {
		items[i] = map[string]any{"product_id": p, "name": "Product " + p, "quantity": 1, "price_cents": 100}
	}
	ev, err := events.New(EventOrderPlaced, "order", orderID, map[string]any{
		"order_id": orderID, "customer_id": "alice", "email": "alice@example.com", "name": "Alice",
		"items": items, "total_cents": 100 * len(products), "currency": "USD", "transaction_id": "txn_1",
		"placed_at": "2026-11-27T12:00:00Z",
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func handle(t *testing.T, svc *Service, evs ...events.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := svc.HandleOrderPlaced(context.Background(), ev); err != nil {
			t.Fatalf("handle %s: %v", ev.Key, err)
		}
	}
}

func recommend(t *testing.T, svc *Service, id string, limit int) []Item {
	t.Helper()
	rec, err := svc.Recommend(context.Background(), id, limit)
	if err != nil {
		t.Fatalf("recommend %s: %v", id, err)
	}
	if rec.ProductID != id {
		t.Errorf("product_id = %q, want %q", rec.ProductID, id)
	}
	return rec.Items
}

func TestBoughtTogether(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		handle(t, svc, placed(t, "o1", "A", "B"), placed(t, "o2", "B", "A"), placed(t, "o3", "A", "C"))

		want := []Item{
			{ProductID: "B", Score: 0.6667, Reason: ReasonBoughtTogether},
			{ProductID: "C", Score: 0.3333, Reason: ReasonBoughtTogether},
		}
		if diff := cmp.Diff(want, recommend(t, svc, "A", 2)); diff != "" {
			t.Errorf("A (-want +got):\n%s", diff)
		}
		// B was bought only with A, in both of its orders; then the
		// popular fallback: C (A is B's partner already).
		want = []Item{
			{ProductID: "A", Score: 1, Reason: ReasonBoughtTogether},
			{ProductID: "C", Score: 0, Reason: ReasonPopular},
		}
		if diff := cmp.Diff(want, recommend(t, svc, "B", 5)); diff != "" {
			t.Errorf("B (-want +got):\n%s", diff)
		}
		if got := recommend(t, svc, "A", 1); len(got) != 1 || got[0].ProductID != "B" {
			t.Errorf("A with limit 1 = %+v, want B only", got)
		}
	})
}

func TestReplayedEventCountsOnce(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		ab := placed(t, "o1", "A", "B")
		ac1, ac2 := placed(t, "o2", "A", "C"), placed(t, "o3", "A", "C")
		// A redelivered A+B must not overtake the twice-ordered A+C.
		handle(t, svc, ab, ab, ab, ac1, ac2, ab)
		got := recommend(t, svc, "A", 5)
		if len(got) != 2 || got[0].ProductID != "C" || got[1].ProductID != "B" {
			t.Errorf("A = %+v, want C then B", got)
		}
		var pairAB, popA int
		ctx := context.Background()
		if err := db.QueryRow(ctx, `SELECT count FROM pairs WHERE product_id = 'A' AND other_id = 'B'`).Scan(&pairAB); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, `SELECT count FROM popularity WHERE product_id = 'A'`).Scan(&popA); err != nil {
			t.Fatal(err)
		}
		if pairAB != 1 || popA != 3 {
			t.Errorf("pairs(A,B) = %d, popularity(A) = %d; want 1 and 3", pairAB, popA)
		}
		if counted, err := svc.AddOrder(ctx, ab.ID, OrderPlaced{OrderID: "o1", Items: []struct {
			ProductID string `json:"product_id"`
		}{{"A"}, {"B"}}}); counted || err != nil {
			t.Errorf("AddOrder of a seen event = %v, %v; want not counted", counted, err)
		}
	})
}

// The same event delivered to several consumers at once (two instances,
// a redelivery racing the first attempt) still counts once, and concurrent
// orders sharing products do not deadlock.
func TestConcurrentDeliveries(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		var evs []events.Event
		for i := range 10 {
			evs = append(evs, placed(t, fmt.Sprintf("o%d", i), "A", "B", "C", "D"))
		}
		var wg sync.WaitGroup
		for _, ev := range evs {
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := svc.HandleOrderPlaced(context.Background(), ev); err != nil {
						t.Errorf("handle %s: %v", ev.Key, err)
					}
				}()
			}
		}
		wg.Wait()
		var pop int
		if err := db.QueryRow(context.Background(), `SELECT count FROM popularity WHERE product_id = 'D'`).Scan(&pop); err != nil {
			t.Fatal(err)
		}
		if pop != 10 {
			t.Errorf("popularity(D) = %d, want 10", pop)
		}
		if got := recommend(t, svc, "A", 5); len(got) != 3 || got[0].Score != 1 {
			t.Errorf("A = %+v, want B, C, D with score 1", got)
		}
	})
}

func TestFallbackToPopular(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		if got := recommend(t, svc, "A", 5); len(got) != 0 {
			t.Errorf("no orders yet: %+v, want nothing", got)
		}
		handle(t, svc,
			placed(t, "o1", "P"), placed(t, "o2", "P"), placed(t, "o3", "P"),
			placed(t, "o4", "Q"), placed(t, "o5", "Q"),
			placed(t, "o6", "R"),
		)
		popular := func(ids ...string) []Item {
			var out []Item
			for _, id := range ids {
				out = append(out, Item{ProductID: id, Reason: ReasonPopular})
			}
			return out
		}
		tests := []struct {
			id    string
			limit int
			want  []Item
		}{
			{"never-ordered", 5, popular("P", "Q", "R")},
			{"never-ordered", 2, popular("P", "Q")},
			{"P", 5, popular("Q", "R")}, // never itself
			{"Q", 1, popular("P")},
		}
		for _, tt := range tests {
			if diff := cmp.Diff(tt.want, recommend(t, svc, tt.id, tt.limit)); diff != "" {
				t.Errorf("%s limit %d (-want +got):\n%s", tt.id, tt.limit, diff)
			}
		}
	})
}

func TestBigOrder(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, db := newService(t, open)
		var ids []string
		for i := range 50 { // an order's most lines: 2450 pairs, several upserts
			ids = append(ids, fmt.Sprintf("p%02d", i))
		}
		handle(t, svc, placed(t, "big", ids...))
		var pairs int
		if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM pairs`).Scan(&pairs); err != nil {
			t.Fatal(err)
		}
		if pairs != 50*49 {
			t.Errorf("pairs = %d, want %d", pairs, 50*49)
		}
		if got := recommend(t, svc, "p07", MaxLimit); len(got) != MaxLimit || got[0].ProductID != "p00" {
			t.Errorf("p07 = %d items starting %+v", len(got), got[:1])
		}
	})
}

func TestMalformedEventsArePermanent(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		tooMany := make([]map[string]string, maxOrderProducts+1)
		for i := range tooMany {
			tooMany[i] = map[string]string{"product_id": fmt.Sprint(i)}
		}
		big, _ := json.Marshal(map[string]any{"order_id": "o1", "items": tooMany})
		for _, data := range []string{
			`not json`,
			`{"items":[{"product_id":"A"}]}`,
			`{"order_id":"o1","items":[]}`,
			`{"order_id":"o1","items":[{"product_id":""}]}`,
			`{"order_id":"o1","items":[{"product_id":7}]}`,
			string(big),
		} {
			ev := events.Event{ID: "e-" + data[:min(len(data), 8)], Type: EventOrderPlaced, Data: json.RawMessage(data)}
			if err := svc.HandleOrderPlaced(context.Background(), ev); !events.IsPermanent(err) {
				t.Errorf("%.60s: err = %v, want permanent", data, err)
			}
		}
	})
}

func TestRecommendValidates(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		svc, _ := newService(t, open)
		for _, tc := range []struct {
			id    string
			limit int
		}{{"", 5}, {string(make([]byte, 65)), 5}, {"A", 0}, {"A", 21}} {
			if _, err := svc.Recommend(context.Background(), tc.id, tc.limit); !fault.Is(err, fault.Invalid) {
				t.Errorf("Recommend(%q, %d): err = %v, want Invalid", tc.id, tc.limit, err)
			}
		}
	})
}
