package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
)

// TestPaymentDown takes every payment instance away: browsing, product
// pages and login keep working, an order fails fast with 503 and its stock
// released, and once payment is back orders succeed again.
func TestPaymentDown(t *testing.T) {
	sys := start(t, []string{"--replicas", "payment=2"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	anon := client.New(sys.URL)
	ada := sys.user(ctx, "Ada")

	for _, id := range []string{"payment-1", "payment-2"} {
		sys.instance(ctx, id, "stop")
	}
	eventually(t, 10*time.Second, "payment gone from the registry", func() error {
		if n := len(sys.status().Services["payment"].Instances); n != 0 {
			return fmt.Errorf("%d payment instances listed", n)
		}
		return nil
	})

	if _, err := anon.Get(ctx, "/api/v1/products?limit=5", nil); err != nil {
		t.Errorf("browse without payment: %v", err)
	}
	if got := stockOf(t, ctx, anon, "4521"); got != 12 {
		t.Errorf("product page without payment: stock %d", got)
	}
	email := fmt.Sprintf("carol-%d@example.com", time.Now().UnixNano())
	if _, err := anon.JSON(ctx, "POST", "/api/v1/auth/signup", map[string]string{"email": email, "password": "correct horse battery", "name": "Carol"}, nil); err != nil {
		t.Errorf("signup without payment: %v", err)
	}
	if _, err := anon.Login(ctx, email, "correct horse battery"); err != nil {
		t.Errorf("login without payment: %v", err)
	}

	began := time.Now()
	resp, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 2, goodCard), nil)
	took := time.Since(began)
	if !isProblem(err, 503, "unavailable") {
		t.Fatalf("order without payment: %v, want 503 unavailable", err)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if took > 2*time.Second {
		t.Errorf("the failed order took %v, want under 2s", took)
	}
	if got := stockOf(t, ctx, anon, "4521"); got != 12 {
		t.Errorf("stock after the failed order = %d, want 12 (released)", got)
	}
	var health struct {
		Status string `json:"status"`
	}
	r, err := anon.Do(ctx, "GET", "/health", nil)
	if err != nil || r.Status != http.StatusServiceUnavailable {
		t.Errorf("/health without payment: %v %v, want 503", r, err)
	} else if _ = jsonUnmarshal(r.Body, &health); health.Status != "degraded" {
		t.Errorf("/health status %q, want degraded", health.Status)
	}

	for _, id := range []string{"payment-1", "payment-2"} {
		sys.instance(ctx, id, "start")
	}
	eventually(t, 30*time.Second, "orders succeed once payment is back", func() error {
		var o order
		_, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4502", 1, goodCard), &o)
		if err != nil {
			return err
		}
		if o.Status != "CONFIRMED" {
			return fmt.Errorf("status %s", o.Status)
		}
		return nil
	})
}

// TestRestart kills an instance with SIGKILL: the launcher restarts it and
// orders succeed again.
func TestRestart(t *testing.T) {
	sys := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ada := sys.user(ctx, "Ada")

	before := sys.status().Services["order"].Instances
	if len(before) != 1 || before[0].PID == 0 {
		t.Fatalf("order instances = %+v", before)
	}
	sys.instance(ctx, "order-1", "kill")
	eventually(t, 5*time.Second, "the killed process is gone", func() error {
		if pidAlive(before[0].PID) {
			return fmt.Errorf("pid %d still alive", before[0].PID)
		}
		return nil
	})
	eventually(t, 20*time.Second, "order restarted with a new pid", func() error {
		now := sys.status().Services["order"].Instances
		if len(now) != 1 || now[0].PID == before[0].PID || !now[0].Healthy || now[0].Restarts < 1 {
			return fmt.Errorf("order instances = %+v", now)
		}
		return nil
	})
	eventually(t, 20*time.Second, "an order after the restart", func() error {
		var o order
		_, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4502", 1, goodCard), &o)
		if err == nil && o.Status != "CONFIRMED" {
			return fmt.Errorf("status %s", o.Status)
		}
		return err
	})
}
