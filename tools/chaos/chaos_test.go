package chaos

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
)

// fakeGateway serves the admin status and kill routes.
func fakeGateway(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var killed []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/admin/status":
			_ = json.NewEncoder(w).Encode(map[string]any{"services": map[string]any{
				"gateway":   map[string]any{"instances": []any{map[string]any{"id": "gateway-1", "pid": 10, "healthy": true}}},
				"order":     map[string]any{"instances": []any{map[string]any{"id": "order-1", "pid": 11, "healthy": true}, map[string]any{"id": "order-2", "pid": 12, "healthy": false}}},
				"inventory": map[string]any{"instances": []any{map[string]any{"id": "inventory-1", "pid": 13, "healthy": true}}},
			}})
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/kill"):
			mu.Lock()
			killed = append(killed, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/admin/instances/"), "/kill"))
			mu.Unlock()
			w.Write([]byte(`{}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), killed...)
	}
}

func TestRun(t *testing.T) {
	srv, killed := fakeGateway(t)
	var out strings.Builder
	kills, err := Run(context.Background(), client.New(srv.URL), Options{Every: 20 * time.Millisecond, Duration: 250 * time.Millisecond, Seed: 7, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(kills); n < 8 || n > 13 {
		t.Errorf("%d kills in 250ms at one per 20ms", n)
	}
	for _, id := range killed() {
		if id == "gateway-1" || id == "order-2" {
			t.Errorf("killed %s: the gateway is spared and unhealthy instances skipped", id)
		}
	}
	if got, want := len(killed()), len(kills); got != want {
		t.Errorf("gateway saw %d kills, Run reported %d", got, want)
	}
	if !strings.Contains(out.String(), "killed order-1 (pid 11)") && !strings.Contains(out.String(), "killed inventory-1 (pid 13)") {
		t.Errorf("output does not name the victims:\n%s", out.String())
	}
}

func TestRunFilters(t *testing.T) {
	srv, killed := fakeGateway(t)
	_, err := Run(context.Background(), client.New(srv.URL), Options{Every: 10 * time.Millisecond, Duration: 100 * time.Millisecond, Services: []string{"inventory"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range killed() {
		if id != "inventory-1" {
			t.Errorf("killed %s outside --services inventory", id)
		}
	}
	if _, err := Run(context.Background(), client.New(srv.URL), Options{}); err == nil {
		t.Error("zero durations accepted")
	}
}
