package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/brokertest"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

// TestRun starts a whole instance, as souk up would, on an embedded broker:
// it seeds the sample stock, expires a reservation with its worker, and
// releases one on ORDER_CANCELLED.
func TestRun(t *testing.T) {
	sqlstoretest.EachBackend(t, func(t *testing.T, b *sqlstoretest.Backend) {
		const secret = "0123456789abcdef-test"
		natsURL := brokertest.Embedded(t)
		addr := freeAddr(t)
		env := map[string]string{
			"SOUK_NATS_URL":                  natsURL,
			"SOUK_SERVICE_SECRET":            secret,
			"SOUK_DATA":                      t.TempDir(),
			"SOUK_HTTP_ADDR":                 addr,
			"SOUK_LOG_LEVEL":                 "warn",
			"SOUK_INVENTORY_RESERVATION_TTL": "1s",
			"SOUK_INVENTORY_SWEEP_INTERVAL":  "100ms",
		}
		if b.Dialect == sqlstore.Postgres {
			env["SOUK_INVENTORY_DATABASE_URL"] = b.DSN
		}
		ctx, cancel := context.WithCancel(context.Background())
		var logs syncBuffer
		done := make(chan error, 1)
		go func() { done <- Run(ctx, func(k string) string { return env[k] }, &logs) }()
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not stop within 10s")
			}
			if t.Failed() {
				t.Logf("instance logs:\n%s", logs.String())
			}
		})

		token, err := authn.SignService([]byte(secret), "order", time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + addr
		// do sends a request as the order service and decodes the answer
		// into out; status 0 means no answer.
		do := func(method, path, body string, out any) int {
			req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return 0
			}
			defer resp.Body.Close()
			if out != nil {
				_ = json.NewDecoder(resp.Body).Decode(out)
			}
			return resp.StatusCode
		}
		available := func() int64 {
			var l Level
			do("GET", "/api/v1/inventory/4521", "", &l)
			return l.Available
		}
		waitFor := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s", what)
				}
			}
		}
		waitFor("readiness", func() bool { return do("GET", "/health/ready", "", nil) == http.StatusOK })
		if got := available(); got != 12 {
			t.Fatalf("4521 available = %v, want the sample's 12", got)
		}

		// Reserved and never committed: the worker gives it back.
		if s := do("POST", "/internal/reservations", `{"order_id":"e1","items":[{"product_id":"4521","quantity":2}]}`, nil); s != http.StatusCreated {
			t.Fatalf("reserve status = %d, want 201", s)
		}
		if got := available(); got != 10 {
			t.Fatalf("available after reserve = %v, want 10", got)
		}
		waitFor("the reservation to expire", func() bool { return available() == 12 })

		// Reserved, then the order is cancelled.
		if s := do("POST", "/internal/reservations", `{"order_id":"e2","items":[{"product_id":"4521","quantity":5}]}`, nil); s != http.StatusCreated {
			t.Fatalf("reserve status = %d, want 201", s)
		}
		publishCancelled(t, natsURL, "e2")
		waitFor("ORDER_CANCELLED to release e2", func() bool {
			var p Page[ReservationAudit]
			do("GET", "/internal/audit/reservations?cursor=e1", "", &p)
			return len(p.Items) == 1 && p.Items[0].Reason == ReasonCancelled
		})
		if got := available(); got != 12 {
			t.Errorf("available after cancel = %v, want 12", got)
		}
	})
}

func publishCancelled(t *testing.T, url, orderID string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	bus := events.NewBus(nc, js, events.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.EnsureStream(ctx, "order"); err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(ctx, cancelledEvent(t, orderID)); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for the instance's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
