package notification

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/registry/registrytest"
)

const secret = "0123456789abcdef-test"

func TestRunRejectsBadConcurrency(t *testing.T) {
	for _, v := range []string{"0", "65", "many"} {
		env := map[string]string{"SOUK_NATS_URL": "nats://127.0.0.1:1", "SOUK_SERVICE_SECRET": secret, "SOUK_NOTIFICATION_CONCURRENCY": v}
		err := Run(context.Background(), func(k string) string { return env[k] }, nil)
		if err == nil || !strings.Contains(err.Error(), "SOUK_NOTIFICATION_CONCURRENCY") {
			t.Errorf("concurrency %q: err = %v, want one naming the setting", v, err)
		}
	}
}

// TestRun starts a whole instance on an embedded broker, feeds it an
// ORDER_PLACED and reads the audit over HTTP with a service token.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := brokertest.Embedded(t)
	env := map[string]string{"SOUK_NATS_URL": url, "SOUK_SERVICE_SECRET": secret, "SOUK_DATA": t.TempDir(), "SOUK_LOG_LEVEL": "warn"}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, func(k string) string { return env[k] }, t.Output()) }()

	nc, js, err := broker.Connect(ctx, url, "notification-run-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	addr := registrytest.WaitForInstance(ctx, t, js, "notification", done)

	ev, err := events.New("ORDER_PLACED", "order", "o1", map[string]any{
		"order_id": "o1", "customer_id": "alice", "email": "alice@example.com",
		"items": []map[string]any{{"product_id": "4521", "name": "Espresso cup", "quantity": 1, "price_cents": 4999}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := events.NewBus(nc, js, events.Options{}).Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}

	token, err := authn.SignService([]byte(secret), "test", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for {
		var page AuditPage
		if status := getJSON(t, "http://"+addr+"/internal/audit/notifications", token, &page); status != http.StatusOK {
			t.Fatalf("audit: status %d", status)
		}
		if len(page.Items) == 1 && page.Items[0] == (Audit{OrderID: "o1", Kind: KindConfirmation, Count: 1}) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("audit = %+v, want o1's confirmation", page.Items)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if status := getJSON(t, "http://"+addr+"/api/v1/notifications", token, nil); status != http.StatusUnauthorized {
		t.Errorf("user route with a service token: status %d, want 401", status)
	}

	stop()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

func getJSON(t *testing.T, url, token string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}
