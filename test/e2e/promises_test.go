package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
)

// TestNoOversell sends 50 simultaneous orders for the last 10 units: exactly
// 10 are confirmed, the rest are refused as out of stock, and no unit is
// left reserved.
func TestNoOversell(t *testing.T) {
	sys := start(t, []string{"--replicas", "order=2,inventory=2"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := sys.admin.JSON(ctx, "PUT", "/api/v1/inventory/4510", map[string]int{"available": 10}, nil); err != nil {
		t.Fatal(err)
	}
	buyers := make([]*client.Client, 10)
	for i := range buyers {
		buyers[i] = sys.user(ctx, fmt.Sprintf("Buyer%d", i))
	}
	var (
		wg                    sync.WaitGroup
		mu                    sync.Mutex
		confirmed, outOfStock int
		other                 []string
	)
	startLine := make(chan struct{})
	for i := 0; i < 50; i++ {
		u := buyers[i%len(buyers)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startLine
			var o order
			_, err := u.JSON(ctx, "POST", "/api/v1/orders", orderBody("4510", 1, goodCard), &o)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && o.Status == "CONFIRMED":
				confirmed++
			case isProblem(err, 409, "out_of_stock"):
				outOfStock++
			default:
				other = append(other, fmt.Sprintf("%v %+v", err, o))
			}
		}()
	}
	close(startLine)
	wg.Wait()
	if confirmed != 10 || outOfStock != 40 || len(other) > 0 {
		t.Fatalf("confirmed %d, out of stock %d, other %v; want 10 and 40", confirmed, outOfStock, other)
	}
	var stock struct {
		Items []struct {
			ProductID string `json:"product_id"`
			Available int64  `json:"available"`
			Reserved  int64  `json:"reserved"`
			Sold      int64  `json:"sold"`
		} `json:"items"`
	}
	if _, err := sys.admin.Get(ctx, "/api/v1/admin/audit/stock?limit=5000", &stock); err != nil {
		t.Fatal(err)
	}
	for _, s := range stock.Items {
		if s.ProductID == "4510" && (s.Available != 0 || s.Reserved != 0 || s.Sold != 10) {
			t.Errorf("stock of 4510 = %+v, want 0 available, 0 reserved, 10 sold", s)
		}
	}
}

// TestIdempotencyKey repeats an order with the same key: one order, the same
// answer; the same key with another body is 422.
func TestIdempotencyKey(t *testing.T) {
	sys := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ada := sys.user(ctx, "Ada")
	var first, again order
	r1, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 1, goodCard), &first, "Idempotency-Key", "same-key")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 1, goodCard), &again, "Idempotency-Key", "same-key")
	if err != nil {
		t.Fatal(err)
	}
	if r1.Status != http.StatusCreated || r2.Status != r1.Status || again.ID != first.ID || again.Payment.TransactionID != first.Payment.TransactionID {
		t.Errorf("first %d %+v, again %d %+v", r1.Status, first, r2.Status, again)
	}
	if got := stockOf(t, ctx, sys.admin, "4521"); got != 11 {
		t.Errorf("stock = %d, want 11 (one order)", got)
	}
	if _, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 2, goodCard), nil, "Idempotency-Key", "same-key"); !isProblem(err, 422, "idempotency_key_reused") {
		t.Errorf("same key, other body: %v, want 422 idempotency_key_reused", err)
	}
	var page struct {
		Items []order `json:"items"`
	}
	if _, err := ada.Get(ctx, "/api/v1/orders", &page); err != nil || len(page.Items) != 1 {
		t.Errorf("orders = %d, %v; want exactly one", len(page.Items), err)
	}
}
