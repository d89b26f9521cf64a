package catalog

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/registry/registrytest"
	"github.com/souk/souk/sampledata"
)

const secret = "0123456789abcdef-test"

func TestRunRejectsBadSeedSetting(t *testing.T) {
	env := map[string]string{"SOUK_NATS_URL": "nats://127.0.0.1:1", "SOUK_SERVICE_SECRET": secret, "SOUK_CATALOG_SEED": "maybe"}
	err := Run(context.Background(), func(k string) string { return env[k] }, nil)
	if err == nil || !strings.Contains(err.Error(), "SOUK_CATALOG_SEED") {
		t.Errorf("err = %v, want one naming SOUK_CATALOG_SEED", err)
	}
}

// TestRun starts a whole instance on an embedded broker: it seeds the
// sample catalog, serves it, and relays one PRODUCT_CREATED per product to
// the catalog's stream.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := brokertest.Embedded(t)
	env := map[string]string{"SOUK_NATS_URL": url, "SOUK_SERVICE_SECRET": secret, "SOUK_DATA": t.TempDir(), "SOUK_LOG_LEVEL": "warn"}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, func(k string) string { return env[k] }, t.Output()) }()

	nc, js, err := broker.Connect(ctx, url, "catalog-run-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	addr := registrytest.WaitForInstance(ctx, t, js, "catalog", done)

	resp, err := http.Get("http://" + addr + "/api/v1/products/4521")
	if err != nil {
		t.Fatal(err)
	}
	var p Product
	err = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || p.PriceCents != 4999 || p.Currency != "USD" {
		t.Fatalf("GET 4521: %d %+v %v", resp.StatusCode, p, err)
	}

	for {
		st, err := js.Stream(ctx, events.StreamOf("catalog"))
		if err == nil && st.CachedInfo().State.Msgs == uint64(len(sampledata.Products)) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("catalog stream never held the %d seed events (%v)", len(sampledata.Products), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}
