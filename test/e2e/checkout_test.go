package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
)

var goodCard = map[string]any{"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}

func orderBody(product string, qty int, card map[string]any) map[string]any {
	return map[string]any{"items": []map[string]any{{"product_id": product, "quantity": qty}}, "payment": card}
}

type product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
	Stock      *struct {
		Available int64 `json:"available"`
	} `json:"stock"`
	Recommendations []any    `json:"recommendations"`
	Degraded        []string `json:"degraded"`
}

type order struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
	Payment    *struct {
		TransactionID string `json:"transaction_id"`
	} `json:"payment"`
}

func stockOf(t *testing.T, ctx context.Context, c *client.Client, id string) int64 {
	t.Helper()
	var p product
	if _, err := c.Get(ctx, "/api/v1/products/"+id, &p); err != nil {
		t.Fatalf("product %s: %v", id, err)
	}
	if p.Stock == nil {
		t.Fatalf("product %s: no stock part (degraded %v)", id, p.Degraded)
	}
	return p.Stock.Available
}

// TestCheckout walks the article's checkout through the gateway: sign up,
// log in, order, and watch the confirmation email and the warehouse task
// appear; then the declined card, too many units, and a bad body.
func TestCheckout(t *testing.T) {
	sys := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	anon := client.New(sys.URL)

	t.Run("health", func(t *testing.T) {
		var h struct {
			Status   string `json:"status"`
			Services map[string]struct {
				Instances int `json:"instances"`
				Healthy   int `json:"healthy"`
			} `json:"services"`
		}
		if _, err := anon.Get(ctx, "/health", &h); err != nil {
			t.Fatal(err)
		}
		if h.Status != "healthy" {
			t.Errorf("status = %q", h.Status)
		}
		for _, svc := range []string{"gateway", "auth", "user", "catalog", "inventory", "order", "payment", "notification", "warehouse"} {
			if s := h.Services[svc]; s.Instances < 1 || s.Healthy < 1 {
				t.Errorf("health of %s = %+v", svc, s)
			}
		}
	})

	ada := sys.user(ctx, "Ada")
	var me struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	eventually(t, 2*time.Second, "profile", func() error { _, err := ada.Get(ctx, "/api/v1/users/me", &me); return err })
	if me.Name != "Ada" || !strings.HasPrefix(me.Email, "ada-") {
		t.Errorf("me = %+v", me)
	}

	var p product
	if _, err := anon.Get(ctx, "/api/v1/products/4521", &p); err != nil {
		t.Fatal(err)
	}
	if p.PriceCents != 4999 || p.Currency != "USD" || p.Stock == nil || p.Stock.Available != 12 {
		t.Fatalf("product 4521 = %+v, want 4999 USD with 12 in stock", p)
	}

	var o order
	resp, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 2, goodCard), &o)
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	if resp.Status != http.StatusCreated || o.Status != "CONFIRMED" || o.TotalCents != 2*4999 || o.Payment == nil || o.Payment.TransactionID == "" {
		t.Fatalf("order = %d %+v", resp.Status, o)
	}
	placed := time.Now()
	if got := stockOf(t, ctx, anon, "4521"); got != 10 {
		t.Errorf("stock after order = %d, want 10", got)
	}

	// The confirmation email and the pick-and-pack task follow from
	// ORDER_PLACED on the broker, within 2 s.
	var mail struct {
		Items []struct {
			OrderID string `json:"order_id"`
			Kind    string `json:"kind"`
			To      string `json:"to"`
		} `json:"items"`
	}
	eventually(t, 2*time.Second-time.Since(placed), "confirmation email", func() error {
		if _, err := ada.Get(ctx, "/api/v1/notifications", &mail); err != nil {
			return err
		}
		for _, m := range mail.Items {
			if m.OrderID == o.ID && m.Kind == "order_confirmation" && m.To == me.Email {
				return nil
			}
		}
		return fmt.Errorf("messages: %+v", mail.Items)
	})
	var tasks struct {
		Items []struct {
			ID      string `json:"id"`
			OrderID string `json:"order_id"`
			Status  string `json:"status"`
		} `json:"items"`
	}
	eventually(t, 2*time.Second-time.Since(placed), "warehouse task", func() error {
		if _, err := sys.admin.Get(ctx, "/api/v1/warehouse/tasks?order_id="+o.ID, &tasks); err != nil {
			return err
		}
		if len(tasks.Items) != 1 {
			return fmt.Errorf("tasks: %+v", tasks.Items)
		}
		return nil
	})
	if _, err := ada.Get(ctx, "/api/v1/warehouse/tasks", nil); !isStatus(err, 403) {
		t.Errorf("customer on warehouse route: %v, want 403", err)
	}

	var hist struct {
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	if _, err := ada.Get(ctx, "/api/v1/orders/"+o.ID+"/history", &hist); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range hist.Events {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "ORDER_CREATED,ORDER_STOCK_RESERVED,ORDER_PAYMENT_CAPTURED,ORDER_PLACED" {
		t.Errorf("history = %v", types)
	}
	bob := sys.user(ctx, "Bob")
	if _, err := bob.Get(ctx, "/api/v1/orders/"+o.ID, nil); !isStatus(err, 404) {
		t.Errorf("another user's order: %v, want 404", err)
	}

	t.Run("declined card releases the stock", func(t *testing.T) {
		declined := map[string]any{"card_number": "4000000000000002", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
		_, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 3, declined), nil)
		if !isProblem(err, 402, "payment_declined") {
			t.Fatalf("declined: %v, want 402 payment_declined", err)
		}
		if got := stockOf(t, ctx, anon, "4521"); got != 10 {
			t.Errorf("stock after a declined order = %d, want 10", got)
		}
	})
	t.Run("too many is 409", func(t *testing.T) {
		_, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 11, goodCard), nil)
		if !isProblem(err, 409, "out_of_stock") {
			t.Fatalf("too many: %v, want 409 out_of_stock", err)
		}
	})
	t.Run("invalid body is a 400 problem", func(t *testing.T) {
		resp, err := ada.Do(ctx, "POST", "/api/v1/orders", []byte(`{"items":"lots"}`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 400 || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(resp.Body), `"code":"invalid"`) {
			t.Fatalf("got %d %s %s", resp.Status, resp.Header.Get("Content-Type"), resp.Body)
		}
	})
	t.Run("logs", func(t *testing.T) {
		if !strings.Contains(sys.out.String(), "order/order-1 | ") {
			t.Error("no prefixed order log lines on the launcher's output")
		}
		for _, f := range []string{"order-1.log", "gateway-1.log", "payment-1.log"} {
			data, err := os.ReadFile(filepath.Join(sys.Data, "logs", f))
			if err != nil || len(data) == 0 {
				t.Errorf("log file %s: %v (%d bytes)", f, err, len(data))
			}
		}
	})
}

func isStatus(err error, status int) bool {
	var e *client.APIError
	return errors.As(err, &e) && e.Status == status
}

func isProblem(err error, status int, code string) bool {
	var e *client.APIError
	return errors.As(err, &e) && e.Status == status && e.Problem.Code == code
}
