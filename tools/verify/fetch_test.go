package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/souk/souk/tools/client"
	"github.com/souk/souk/tools/verify"
	"github.com/souk/souk/tools/verify/verifytest"
)

// bigData is a consistent dataset of n confirmed orders, with ids that
// need escaping in a query and hold colons (the notification cursor splits
// at the last one).
func bigData(n int) verify.Data {
	var d verify.Data
	d.Stock = []verify.Stock{{ProductID: "p&1", Initial: int64(n) * 2, Available: int64(n), Sold: int64(n)}}
	for i := range n {
		id := fmt.Sprintf("o:%03d+x#y", i)
		items := []verify.Item{{ProductID: "p&1", Quantity: 1}}
		d.Orders = append(d.Orders, verify.Order{OrderID: id, Status: verify.OrderConfirmed, TotalCents: 100, Currency: "USD", Items: items})
		d.Charges = append(d.Charges, verify.Charge{OrderID: id, Status: "captured", CapturedCents: 100, Captures: 1, Currency: "USD"})
		d.Reservations = append(d.Reservations, verify.Reservation{OrderID: id, Status: verify.ReservationCommitted, Items: items})
		d.Notifications = append(d.Notifications,
			verify.Notification{OrderID: id, Kind: verify.KindConfirmation, Count: 1},
			verify.Notification{OrderID: id, Kind: "order_shipped", Count: 1})
		d.Tasks = append(d.Tasks, verify.Task{OrderID: id, Tasks: 1, Status: "pending"})
	}
	return d
}

func adminClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c := client.New(url)
	if err := c.LoginAdmin(context.Background(), func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGatewayFetchPagesThroughEverything(t *testing.T) {
	tests := []struct {
		name     string
		orders   int
		pageSize int
		pageCap  int
	}{
		{"empty", 0, 2, 0},
		{"one page", 3, 0, 0},
		{"pages of two, even", 6, 2, 0},
		{"pages of two, odd", 7, 2, 0},
		{"server caps pages below the limit", 10, 0, 3},
		{"page of one", 4, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := bigData(tt.orders)
			srv := verifytest.NewServer(want)
			defer srv.Close()
			srv.PageCap = tt.pageCap
			g := verify.NewGateway(adminClient(t, srv.URL), tt.pageSize)
			got, err := g.Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// The fake sorts notifications by order id then kind; so do
			// the services.
			if diff := cmp.Diff(norm(want), norm(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("fetched data (-want +got):\n%s", diff)
			}
			wantLimit := tt.pageSize
			if wantLimit == 0 {
				wantLimit = verify.MaxPageSize
			}
			if pages := tt.pageSize + tt.pageCap; pages > 0 && tt.orders > pages && len(srv.Limits()) <= 6 {
				t.Errorf("%d requests, want several pages per audit", len(srv.Limits()))
			}
			for _, l := range srv.Limits() {
				if l != wantLimit {
					t.Fatalf("a request asked for limit %d, want %d", l, wantLimit)
				}
			}
			if rep := verify.Check(got, nil); !rep.OK {
				t.Errorf("fetched data does not check: %+v", rep.Failed())
			}
		})
	}
}

func norm(d verify.Data) verify.Data {
	slices.SortFunc(d.Notifications, func(a, b verify.Notification) int {
		return strings.Compare(a.OrderID+"\x00"+a.Kind, b.OrderID+"\x00"+b.Kind)
	})
	return d
}

func TestGatewayFetchErrors(t *testing.T) {
	t.Run("forbidden is not transient", func(t *testing.T) {
		srv := verifytest.NewServer(bigData(2))
		defer srv.Close()
		g := verify.NewGateway(client.New(srv.URL).WithToken("wrong"), 0)
		_, err := g.Fetch(context.Background())
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			t.Fatalf("err = %v, want a 401 APIError", err)
		}
		if verify.Transient(err) {
			t.Errorf("Transient(%v) = true", err)
		}
		if !strings.Contains(err.Error(), "audit ") {
			t.Errorf("err = %q, want it to name the audit", err)
		}
	})
	t.Run("a 503 page is retried", func(t *testing.T) {
		srv := verifytest.NewServer(bigData(5))
		defer srv.Close()
		srv.FailOnce(verify.PathNotifications, http.StatusServiceUnavailable)
		srv.FailOnce(verify.PathOrders, http.StatusTooManyRequests)
		g := verify.NewGateway(adminClient(t, srv.URL), 2)
		d, err := g.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Notifications) != 10 || len(d.Orders) != 5 {
			t.Errorf("got %d notifications and %d orders, want 10 and 5", len(d.Notifications), len(d.Orders))
		}
	})
	t.Run("a 400 page is not retried", func(t *testing.T) {
		srv := verifytest.NewServer(bigData(5))
		defer srv.Close()
		srv.FailOnce(verify.PathStock, http.StatusBadRequest)
		_, err := verify.NewGateway(adminClient(t, srv.URL), 2).Fetch(context.Background())
		if err == nil || !strings.Contains(err.Error(), "audit stock") {
			t.Fatalf("err = %v, want audit stock to fail", err)
		}
	})
	t.Run("a cursor that does not advance", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"items":[{"order_id":"a"}],"next_cursor":"a"}`)
		}))
		defer srv.Close()
		_, err := verify.NewGateway(client.New(srv.URL), 0).Fetch(context.Background())
		if err == nil || !strings.Contains(err.Error(), "did not advance") {
			t.Fatalf("err = %v, want the cursor not advancing", err)
		}
	})
	t.Run("gateway down is transient", func(t *testing.T) {
		srv := verifytest.NewServer(bigData(1))
		url := srv.URL
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := verify.NewGateway(client.New(url).WithToken(verifytest.Token), 0).Fetch(ctx)
		if err == nil || !verify.Transient(err) {
			t.Fatalf("err = %v, want a transient error", err)
		}
	})
}

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&client.APIError{Status: 429}, true},
		{&client.APIError{Status: 500}, true},
		{&client.APIError{Status: 503}, true},
		{fmt.Errorf("audit x: %w", &client.APIError{Status: 502}), true},
		{&client.APIError{Status: 400}, false},
		{&client.APIError{Status: 401}, false},
		{&client.APIError{Status: 404}, false},
		{errors.New("decode: unexpected end of JSON input"), false},
		{context.Canceled, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := verify.Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
