package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/registry"
	"github.com/souk/souk/platform/telemetry"
)

// resolver is a fake registry: each Set publishes a new snapshot slice.
type resolver struct {
	mu        sync.Mutex
	instances map[string][]registry.Instance
	calls     atomic.Int64
}

func newResolver() *resolver { return &resolver{instances: map[string][]registry.Instance{}} }

func (r *resolver) Instances(service string) []registry.Instance {
	r.calls.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.instances[service]
}

func (r *resolver) Set(service string, addrs ...string) {
	list := make([]registry.Instance, len(addrs))
	for i, a := range addrs {
		list[i] = registry.Instance{ID: fmt.Sprintf("%s-%d", service, i+1), Service: service, Addr: a}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.instances[service] = list
}

// server is an instance under test that counts its hits.
type server struct {
	*httptest.Server
	hits atomic.Int64
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) Addr() string { return s.Listener.Addr().String() }

// deadAddr returns an address where nothing listens: connections are refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func newClient(t testing.TB, opts Options) *Client {
	t.Helper()
	c := New(opts)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, err error) {
	p := fault.ToProblem(err)
	w.Header().Set("Content-Type", fault.ContentType)
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

type item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

func TestRoundTripWithHeaders(t *testing.T) {
	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled})
	base := trace.ContextWithSpanContext(telemetry.WithRequestID(context.Background(), "req-42"), sc)

	tests := []struct {
		name      string
		token     func(context.Context) string
		header    http.Header
		wantAuth  string
		wantTrace string
	}{
		{"token", func(context.Context) string { return "Bearer svc-token" }, nil, "Bearer svc-token", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"call header wins", func(context.Context) string { return "Bearer svc-token" }, http.Header{"Authorization": {"Bearer user-token"}}, "Bearer user-token", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"no token", nil, nil, "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"empty token", func(context.Context) string { return "" }, nil, "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type seen struct {
				Method, Path, Query, RequestID, TraceParent, Auth, UserAgent, ContentType string
				Body                                                                      item
			}
			var got seen
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				got = seen{
					Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
					RequestID: r.Header.Get("X-Request-Id"), TraceParent: r.Header.Get("Traceparent"),
					Auth: r.Header.Get("Authorization"), UserAgent: r.Header.Get("User-Agent"),
					ContentType: r.Header.Get("Content-Type"),
				}
				_ = json.NewDecoder(r.Body).Decode(&got.Body)
				writeJSON(w, http.StatusCreated, item{SKU: got.Body.SKU, Qty: got.Body.Qty * 2})
			})
			res := newResolver()
			res.Set("inventory", srv.Addr())
			c := newClient(t, Options{Resolver: res, Token: tt.token, Caller: "order"})

			var out item
			err := c.Do(base, "inventory", Call{
				Method: http.MethodPost, Path: "/reservations", Query: url.Values{"dry": {"1"}},
				Body: item{SKU: "A-1", Qty: 3}, Header: tt.header,
			}, &out)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			want := seen{
				Method: "POST", Path: "/reservations", Query: "dry=1", RequestID: "req-42",
				TraceParent: tt.wantTrace, Auth: tt.wantAuth, UserAgent: "souk-rpc/order",
				ContentType: "application/json", Body: item{SKU: "A-1", Qty: 3},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request seen by the server (-want +got):\n%s", diff)
			}
			if want := (item{SKU: "A-1", Qty: 6}); out != want {
				t.Errorf("out = %+v, want %+v", out, want)
			}
		})
	}
}

func TestNoContentAndNilOut(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, item{SKU: "x"})
	})
	res := newResolver()
	res.Set("svc", srv.Addr())
	c := newClient(t, Options{Resolver: res})
	out := item{SKU: "untouched"}
	if err := c.Do(context.Background(), "svc", Call{Method: http.MethodDelete, Path: "/empty"}, &out); err != nil {
		t.Fatalf("204: %v", err)
	}
	if out.SKU != "untouched" {
		t.Errorf("204 changed out to %+v", out)
	}
	if err := c.Do(context.Background(), "svc", Call{Path: "/full"}, nil); err != nil {
		t.Fatalf("200 with nil out: %v", err)
	}
}

func TestErrorAnswers(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		wantKind fault.Kind
		wantCode string
		wantMsg  string
	}{
		{"409 problem keeps its code", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, fault.New(fault.Conflict, "out_of_stock", "product 4521: 2 left"))
		}, fault.Conflict, "out_of_stock", "product 4521: 2 left"},
		{"404 problem", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, fault.NotFoundf("no product 7"))
		}, fault.NotFound, "not_found", "no product 7"},
		{"402 problem", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, fault.New(fault.PaymentRequired, "payment_declined", "card declined"))
		}, fault.PaymentRequired, "payment_declined", "card declined"},
		{"500 problem stays internal", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, errors.New("boom"))
		}, fault.Internal, "internal", "internal error"},
		{"plain 4xx is invalid", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "404 page not found", http.StatusNotFound)
		}, fault.Invalid, "invalid", "svc rejected the request"},
		{"plain 5xx is unavailable", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}, fault.Unavailable, "unavailable", "svc is unavailable"},
		{"bad JSON in a 2xx", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("{not json"))
		}, fault.Internal, "internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.handler)
			res := newResolver()
			res.Set("svc", srv.Addr())
			c := newClient(t, Options{Resolver: res})
			var out item
			err := c.Do(context.Background(), "svc", Call{Method: http.MethodPost, Path: "/x"}, &out)
			if err == nil {
				t.Fatal("Do succeeded, want an error")
			}
			if got := fault.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %v, want %v (err %v)", got, tt.wantKind, err)
			}
			if got := fault.CodeOf(err); got != tt.wantCode {
				t.Errorf("code = %q, want %q (err %v)", got, tt.wantCode, err)
			}
			if e, ok := fault.As(err); ok && e.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", e.Message, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "call svc POST /x: ") {
				t.Errorf("error %q does not name the call", err)
			}
			if got := srv.hits.Load(); got != 1 {
				t.Errorf("server hits = %d, want 1", got)
			}
		})
	}
}

func TestNonIdempotentNeverRetried(t *testing.T) {
	for _, status := range []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			res := newResolver()
			var servers []*server
			var addrs []string
			for range 3 {
				s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
					if status == http.StatusServiceUnavailable {
						writeProblem(w, fault.Unavailablef("busy"))
						return
					}
					w.WriteHeader(status)
				})
				servers = append(servers, s)
				addrs = append(addrs, s.Addr())
			}
			res.Set("payment", addrs...)
			c := newClient(t, Options{Resolver: res, Retries: 5})
			for range 3 {
				err := c.Do(context.Background(), "payment", Call{Method: http.MethodPost, Path: "/charges", Body: item{SKU: "x"}}, nil)
				if !fault.Is(err, fault.Unavailable) && !fault.Is(err, fault.Timeout) {
					t.Fatalf("err = %v, want Unavailable or Timeout", err)
				}
			}
			var hits int64
			for _, s := range servers {
				hits += s.hits.Load()
			}
			if hits != 3 {
				t.Fatalf("3 POSTs hit the servers %d times, want 3 (no retry)", hits)
			}
		})
	}
}

func TestIdempotentRetriedOnAnotherInstance(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		alive := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, item{SKU: "ok"}) })
		res := newResolver()
		res.Set("catalog", deadAddr(t), alive.Addr())
		c := newClient(t, Options{Resolver: res})
		for i := range 20 {
			var out item
			if err := c.Do(context.Background(), "catalog", Call{Path: "/products/1", Idempotent: true}, &out); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			if out.SKU != "ok" {
				t.Fatalf("call %d: out = %+v", i, out)
			}
		}
		if got := alive.hits.Load(); got != 20 {
			t.Errorf("alive hits = %d, want 20", got)
		}
		assertEjected(t, c, "catalog", "catalog-1")
	})
	t.Run("503 then another instance", func(t *testing.T) {
		busy := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeProblem(w, fault.Unavailablef("busy")) })
		alive := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, item{SKU: "ok"}) })
		res := newResolver()
		res.Set("catalog", busy.Addr(), alive.Addr())
		c := newClient(t, Options{Resolver: res, Retries: 1})
		for i := range 20 {
			if err := c.Do(context.Background(), "catalog", Call{Path: "/products/1", Idempotent: true}, nil); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if busy.hits.Load() == 0 {
			t.Error("the busy instance was never tried; the test proves nothing")
		}
		if got := alive.hits.Load(); got != 20 {
			t.Errorf("alive hits = %d, want 20", got)
		}
	})
	t.Run("gives up after Retries", func(t *testing.T) {
		busy := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		res := newResolver()
		res.Set("catalog", busy.Addr())
		c := newClient(t, Options{Resolver: res, Retries: 2, Breaker: BreakerOptions{FailureThreshold: 100}})
		err := c.Do(context.Background(), "catalog", Call{Path: "/p", Idempotent: true}, nil)
		if !fault.Is(err, fault.Unavailable) {
			t.Fatalf("err = %v, want Unavailable", err)
		}
		if got := busy.hits.Load(); got != 3 {
			t.Errorf("hits = %d, want 3 (1 + 2 retries)", got)
		}
	})
	t.Run("500 is not retried", func(t *testing.T) {
		broken := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeProblem(w, errors.New("bug")) })
		res := newResolver()
		res.Set("catalog", broken.Addr())
		c := newClient(t, Options{Resolver: res})
		_ = c.Do(context.Background(), "catalog", Call{Path: "/p", Idempotent: true}, nil)
		if got := broken.hits.Load(); got != 1 {
			t.Errorf("hits = %d, want 1", got)
		}
	})
}

// A request whose connection was refused never reached the callee, so even
// a POST goes to another instance.
func TestRefusedPostGoesToAnotherInstance(t *testing.T) {
	alive := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	res := newResolver()
	res.Set("order", deadAddr(t), alive.Addr())
	c := newClient(t, Options{Resolver: res})
	for i := range 10 {
		if err := c.Do(context.Background(), "order", Call{Method: http.MethodPost, Path: "/orders", Body: item{}}, nil); err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
	}
	if got := alive.hits.Load(); got != 10 {
		t.Errorf("alive hits = %d, want 10", got)
	}
	assertEjected(t, c, "order", "order-1")
}

func assertEjected(t *testing.T, c *Client, service, id string) {
	t.Helper()
	for _, e := range c.service(service).bal.Endpoints() {
		if e.ID == id {
			if !e.Ejected() {
				t.Errorf("%s not ejected after a refused connection", id)
			}
			return
		}
	}
	t.Errorf("no endpoint %s", id)
}

func TestBreaker(t *testing.T) {
	var healthy atomic.Bool
	var status atomic.Int64
	status.Store(http.StatusInternalServerError)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if healthy.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(int(status.Load()))
	})
	res := newResolver()
	res.Set("payment", srv.Addr())
	const delay = 300 * time.Millisecond
	c := newClient(t, Options{Resolver: res, Retries: -1, Breaker: BreakerOptions{FailureThreshold: 3, Delay: delay, SuccessThreshold: 2}})
	call := func() error {
		return c.Do(context.Background(), "payment", Call{Method: http.MethodPost, Path: "/charges"}, nil)
	}
	state := func() string { return c.Breakers()["payment"] }

	// 4xx answers are not failures.
	status.Store(http.StatusConflict)
	for range 10 {
		_ = call()
	}
	if got := state(); got != "closed" {
		t.Fatalf("after 10 × 409: breaker %s, want closed", got)
	}

	status.Store(http.StatusInternalServerError)
	for i := range 3 {
		if err := call(); !fault.Is(err, fault.Unavailable) {
			t.Fatalf("failure %d: err = %v, want Unavailable", i, err)
		}
	}
	if got := state(); got != "open" {
		t.Fatalf("after 3 failures: breaker %s, want open", got)
	}

	hits := srv.hits.Load()
	start := time.Now()
	err := call()
	if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
		t.Errorf("open breaker took %v to answer", elapsed)
	}
	e, ok := fault.As(err)
	if !ok || e.Kind != fault.Unavailable || e.Code != "unavailable" || e.Message != "payment is unavailable" {
		t.Fatalf("open breaker: err = %v, want Unavailable payment is unavailable", err)
	}
	if e.RetryAfter <= 0 || e.RetryAfter > delay {
		t.Errorf("RetryAfter = %v, want in (0, %v]", e.RetryAfter, delay)
	}
	if got := srv.hits.Load(); got != hits {
		t.Errorf("open breaker let %d calls reach the server", got-hits)
	}

	// After the delay, a failing trial opens it again.
	time.Sleep(delay + 20*time.Millisecond)
	if err := call(); !fault.Is(err, fault.Unavailable) {
		t.Fatalf("failing trial: err = %v", err)
	}
	if got := state(); got != "open" {
		t.Fatalf("after a failing trial: breaker %s, want open", got)
	}

	// After the delay again, two successful trials close it.
	time.Sleep(delay + 20*time.Millisecond)
	healthy.Store(true)
	if err := call(); err != nil {
		t.Fatalf("first trial: %v", err)
	}
	if got := state(); got != "half-open" {
		t.Fatalf("after one successful trial: breaker %s, want half-open", got)
	}
	if err := call(); err != nil {
		t.Fatalf("second trial: %v", err)
	}
	if got := state(); got != "closed" {
		t.Fatalf("after two successful trials: breaker %s, want closed", got)
	}
}

func TestNoInstances(t *testing.T) {
	res := newResolver()
	c := newClient(t, Options{Resolver: res})
	err := c.Do(context.Background(), "search", Call{Path: "/q"}, nil)
	e, ok := fault.As(err)
	if !ok {
		t.Fatalf("err = %v, want a *fault.Error", err)
	}
	want := fault.Error{Kind: fault.Unavailable, Code: "unavailable", Message: "search is unavailable"}
	if e.Kind != want.Kind || e.Code != want.Code || e.Message != want.Message {
		t.Errorf("err = %+v, want %+v", *e, want)
	}
}

func TestRelativePathRejected(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	res := newResolver()
	res.Set("svc", srv.Addr())
	c := newClient(t, Options{Resolver: res})
	if err := c.Do(context.Background(), "svc", Call{Path: "products"}, nil); err == nil {
		t.Fatal("Do with a relative path succeeded")
	}
	if got := srv.hits.Load(); got != 0 {
		t.Errorf("server hits = %d, want 0", got)
	}
}

func TestTimeout(t *testing.T) {
	slow := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	res := newResolver()
	res.Set("slow", slow.Addr())
	c := newClient(t, Options{Resolver: res, Breaker: BreakerOptions{FailureThreshold: 100}})

	tests := []struct {
		name    string
		ctxWait time.Duration // 0: no deadline on ctx
		call    Call
		within  time.Duration
	}{
		{"attempt timeout", 0, Call{Path: "/a", Timeout: 100 * time.Millisecond}, 400 * time.Millisecond},
		{"attempt timeouts with retries", 0, Call{Path: "/a", Timeout: 100 * time.Millisecond, Idempotent: true}, 900 * time.Millisecond},
		{"ctx deadline before the attempt timeout", 150 * time.Millisecond, Call{Path: "/a", Timeout: time.Second, Idempotent: true}, 450 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctxWait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxWait)
				defer cancel()
			}
			start := time.Now()
			err := c.Do(ctx, "slow", tt.call, nil)
			elapsed := time.Since(start)
			if !fault.Is(err, fault.Timeout) {
				t.Errorf("err = %v, want Timeout", err)
			}
			if elapsed > tt.within {
				t.Errorf("took %v, want within %v", elapsed, tt.within)
			}
		})
	}
}

func TestLoadSpreadsOverThreeInstances(t *testing.T) {
	res := newResolver()
	var servers []*server
	var addrs []string
	for range 3 {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(2 * time.Millisecond)
			w.WriteHeader(http.StatusNoContent)
		})
		servers = append(servers, s)
		addrs = append(addrs, s.Addr())
	}
	res.Set("catalog", addrs...)
	c := newClient(t, Options{Resolver: res})
	var wg sync.WaitGroup
	const workers, perWorker = 6, 50
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if err := c.Do(context.Background(), "catalog", Call{Path: "/p"}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	const total = workers * perWorker
	for i, s := range servers {
		if got := s.hits.Load(); got*6 < total {
			t.Errorf("instance %d got %d of %d calls, want at least a sixth", i+1, got, total)
		}
	}
}

func TestBalancerFollowsResolverSnapshots(t *testing.T) {
	a := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	b := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	res := newResolver()
	res.Set("svc", a.Addr())
	c := newClient(t, Options{Resolver: res})
	do := func() {
		t.Helper()
		if err := c.Do(context.Background(), "svc", Call{Path: "/"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	do()
	svc := c.service("svc")
	snap := svc.snap.Load()
	for range 5 {
		do()
	}
	if svc.snap.Load() != snap {
		t.Error("the balancer was refreshed although the snapshot did not change")
	}

	res.Set("svc", a.Addr(), b.Addr())
	for range 20 {
		do()
	}
	if got := len(svc.bal.Endpoints()); got != 2 {
		t.Fatalf("endpoints after a new snapshot = %d, want 2", got)
	}
	if b.hits.Load() == 0 {
		t.Error("the new instance got no traffic")
	}

	res.Set("svc", b.Addr()) // a leaves; b is now svc-1
	hitsA := a.hits.Load()
	for range 10 {
		do()
	}
	if got := a.hits.Load(); got != hitsA {
		t.Errorf("instance a got %d calls after it left the registry", got-hitsA)
	}
}

func TestResponseTooLarge(t *testing.T) {
	big := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := strings.Repeat("x", 1<<20)
		for range 9 {
			io.WriteString(w, chunk)
		}
	})
	res := newResolver()
	res.Set("svc", big.Addr())
	c := newClient(t, Options{Resolver: res})
	var out any
	err := c.Do(context.Background(), "svc", Call{Path: "/"}, &out)
	if err == nil || !strings.Contains(err.Error(), "response over") {
		t.Fatalf("err = %v, want response over the limit", err)
	}
}

func TestMetrics(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/conflict" {
			writeProblem(w, fault.New(fault.Conflict, "out_of_stock", "gone"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	res := newResolver()
	res.Set("inventory", srv.Addr())
	reg := prometheus.NewRegistry()
	c := newClient(t, Options{Resolver: res, Metrics: reg, Caller: "order"})
	for range 3 {
		_ = c.Do(context.Background(), "inventory", Call{Path: "/ok"}, nil)
	}
	_ = c.Do(context.Background(), "inventory", Call{Method: http.MethodPost, Path: "/conflict"}, nil)
	// A second client on the same registry shares the collectors.
	_ = New(Options{Resolver: res, Metrics: reg, Caller: "order"})

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName() + labelString(m)
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				got[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"souk_rpc_client_calls_total{callee=inventory,caller=order,method=GET,outcome=ok}":        3,
		"souk_rpc_client_calls_total{callee=inventory,caller=order,method=POST,outcome=conflict}": 1,
		"souk_rpc_client_duration_seconds{callee=inventory,caller=order,method=GET}":              3,
		"souk_rpc_client_duration_seconds{callee=inventory,caller=order,method=POST}":             1,
		"souk_rpc_client_breaker_state{callee=inventory,caller=order}":                            0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestBreakersPerService(t *testing.T) {
	down := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	up := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	res := newResolver()
	res.Set("payment", down.Addr())
	res.Set("catalog", up.Addr())
	c := newClient(t, Options{Resolver: res, Breaker: BreakerOptions{FailureThreshold: 2, Delay: time.Minute}})
	for range 2 {
		_ = c.Do(context.Background(), "payment", Call{Path: "/"}, nil)
		_ = c.Do(context.Background(), "catalog", Call{Path: "/"}, nil)
	}
	want := map[string]string{"payment": "open", "catalog": "closed"}
	if diff := cmp.Diff(want, c.Breakers()); diff != "" {
		t.Errorf("Breakers (-want +got):\n%s", diff)
	}
}

// The benchmarks compare a call through the client with the same call made
// with a bare net/http client and the same transport settings.

func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"sku":"A-1","qty":3}`)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func BenchmarkDo(b *testing.B) {
	srv := benchServer(b)
	res := newResolver()
	res.Set("catalog", srv.Listener.Addr().String())
	for _, m := range []struct {
		name    string
		metrics prometheus.Registerer
	}{{"metrics=off", nil}, {"metrics=on", prometheus.NewRegistry()}} {
		b.Run(m.name, func(b *testing.B) {
			c := newClient(b, Options{Resolver: res, Metrics: m.metrics, Token: func(context.Context) string { return "Bearer t" }})
			ctx := telemetry.WithRequestID(context.Background(), "bench")
			b.ReportAllocs()
			for b.Loop() {
				var out item
				if err := c.Do(ctx, "catalog", Call{Path: "/products/1", Idempotent: true}, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBareHTTP(b *testing.B) {
	srv := benchServer(b)
	hc := &http.Client{Transport: NewTransport()}
	b.Cleanup(hc.CloseIdleConnections)
	ctx := context.Background()
	u := "http://" + srv.Listener.Addr().String() + "/products/1"
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("X-Request-Id", "bench")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out item
		err = json.NewDecoder(resp.Body).Decode(&out)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// cannedTransport answers every request at once from memory, so the
// overhead benchmarks measure the client's own cost without the network's
// noise.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(`{"sku":"A-1","qty":3}`)),
		Request:    r,
	}, nil
}

func BenchmarkOverhead(b *testing.B) {
	b.Run("rpc", func(b *testing.B) {
		res := newResolver()
		res.Set("catalog", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
		c := newClient(b, Options{Resolver: res, Transport: cannedTransport{}, Token: func(context.Context) string { return "Bearer t" }})
		ctx := telemetry.WithRequestID(context.Background(), "bench")
		b.ReportAllocs()
		for b.Loop() {
			var out item
			if err := c.Do(ctx, "catalog", Call{Path: "/products/1", Idempotent: true}, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		hc := &http.Client{Transport: cannedTransport{}}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/products/1", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer t")
			req.Header.Set("X-Request-Id", "bench")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var out item
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
