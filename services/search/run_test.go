package search

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/registry"
	"github.com/souk/souk/services/catalog"
)

const secret = "0123456789abcdef-test"

// TestRunWithCatalog runs a catalog and a search instance on an embedded
// broker: the seeded catalog reaches the index, a later update too, and a
// restarted instance keeps its index.
func TestRunWithCatalog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	natsURL := brokertest.Embedded(t)
	env := map[string]string{
		"SOUK_NATS_URL": natsURL, "SOUK_SERVICE_SECRET": secret, "SOUK_DATA": t.TempDir(),
		"SOUK_LOG_LEVEL": "warn", "SOUK_INSTANCE": "search-1",
	}
	getenv := func(k string) string { return env[k] }
	start := func(run func(context.Context, func(string) string, io.Writer) error) (stop func()) {
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run(runCtx, getenv, t.Output()) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after cancel: %v", err)
			}
		}
	}

	nc, js, err := broker.Connect(ctx, natsURL, "search-run-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reg, err := registry.New(ctx, js, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Watch(ctx); err != nil {
		t.Fatal(err)
	}

	stopCatalog := start(func(ctx context.Context, getenv func(string) string, w io.Writer) error {
		env := func(k string) string {
			if k == "SOUK_INSTANCE" {
				return "catalog-1"
			}
			return getenv(k)
		}
		return catalog.Run(ctx, env, w)
	})
	defer stopCatalog()
	stopSearch := start(Run)

	waitFor(ctx, t, reg, "knife", "4521", "Chef's Knife, 20 cm")

	// A later update reaches the running instance through its consumer.
	ev, err := events.New(EventProductUpdated, "catalog", "4521", Product{ID: "4521", Name: "Santoku Knife", PriceCents: 5999, Currency: "USD", Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := events.NewBus(nc, js, events.Options{}).Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, reg, "santoku", "4521", "Santoku Knife")

	// After a restart the index is still there and still fed.
	stopSearch()
	stopSearch = start(Run)
	defer stopSearch()
	waitFor(ctx, t, reg, "santoku", "4521", "Santoku Knife")
	info, err := js.Consumer(ctx, events.StreamOf("catalog"), "search-products-search-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().Delivered.Stream; got < 31 {
		t.Errorf("durable delivered up to %d, want past the 30 seeds and the update", got)
	}
	// The result cache reports on /metrics.
	resp, err := http.Get("http://" + reg.Instances("search")[0].Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"souk_search_cache_hits_total", "souk_search_cache_misses_total"} {
		if !strings.Contains(string(body), "\n"+name+" ") {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// waitFor queries a registered search instance for q until its first hit
// is id with name.
func waitFor(ctx context.Context, t *testing.T, reg *registry.Registry, q, id, name string) {
	t.Helper()
	var last any
	for {
		if insts := reg.Instances("search"); len(insts) > 0 {
			var res struct {
				Items []Hit `json:"items"`
			}
			resp, err := http.Get("http://" + insts[0].Addr + "/api/v1/search?q=" + url.QueryEscape(q))
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
			}
			if err == nil && len(res.Items) > 0 && res.Items[0].ID == id && res.Items[0].Name == name {
				return
			}
			last = res.Items
			if err != nil {
				last = err
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("search %q never found %s %q; last answer %v", q, id, name, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
