package gateway

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/souk/souk/platform/authn"
)

// deadAddr is an address nothing listens on: connections are refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// reset answers by resetting the connection after reading the request.
func reset(w http.ResponseWriter, r *http.Request) {
	c, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.Close()
}

// hangUp closes the connection (FIN) after reading the request, as a
// process that dies mid-request does.
func hangUp(w http.ResponseWriter, r *http.Request) {
	c, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_ = c.Close()
}

// first makes the gateway's first pick for service the instance
// <service>-<n>: every other instance is ejected for a second, shorter
// than an ejection for a connection failure, so a retry goes to one of them.
func (e *gw) first(t *testing.T, service string, n int) {
	t.Helper()
	up := e.g.ups.service(service)
	eps := up.bal.Endpoints()
	if len(eps) < 2 {
		t.Fatalf("%s has %d endpoints", service, len(eps))
	}
	for i, ep := range eps {
		if i != n-1 {
			ep.Eject(time.Second)
		}
	}
}

func (e *gw) lastUpstream(t *testing.T) string {
	t.Helper()
	lines := e.accessLines(t)
	u, _ := lines[len(lines)-1]["upstream"].(string)
	return u
}

func TestNoInstances(t *testing.T) {
	e := newGW(t, gwConfig{})
	got := e.do(t, "GET", "/api/v1/products", "")
	p := wantProblem(t, got, http.StatusServiceUnavailable, "unavailable")
	if got.header.Get("Retry-After") != "1" || p.Instance != "/api/v1/products" {
		t.Errorf("problem = %+v, Retry-After %q; want retry after 1s and the path as instance", p, got.header.Get("Retry-After"))
	}
}

// A refused connection never reached the service, so any method is sent
// again, to another instance.
func TestRefusedIsRetriedEvenForPOST(t *testing.T) {
	e := newGW(t, gwConfig{})
	live := newUpstream(t)
	e.res.set("order", deadAddr(t), live.addr())
	e.first(t, "order", 1)
	tok := "Authorization: Bearer " + e.token(t, "alice", authn.RoleCustomer)
	got := e.do(t, "POST", "/api/v1/orders", `{"items":[]}`, tok)
	if got.status != http.StatusOK {
		t.Fatalf("POST = %d %s, want 200 from the live instance", got.status, got.body)
	}
	if live.hits() != 1 || live.requests()[0].Body != `{"items":[]}` {
		t.Errorf("live instance saw %d requests (%+v), want the POST once, body intact", live.hits(), live.requests())
	}
	if u := e.lastUpstream(t); u != "order-2" {
		t.Errorf("access log upstream = %q, want order-2", u)
	}
}

// A POST whose connection broke after it was sent may have had its effect:
// it is not sent again.
func TestResetPOSTIsNotRetried(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{"reset": reset, "hang up": hangUp} {
		t.Run(name, func(t *testing.T) {
			e := newGW(t, gwConfig{})
			broken, live := newUpstream(t), newUpstream(t)
			broken.setHandler(h)
			e.res.set("order", broken.addr(), live.addr())
			e.first(t, "order", 1)
			tok := "Authorization: Bearer " + e.token(t, "alice", authn.RoleCustomer)
			got := e.do(t, "POST", "/api/v1/orders", `{"items":[]}`, tok)
			wantProblem(t, got, http.StatusServiceUnavailable, "unavailable")
			if broken.hits() != 1 || live.hits() != 0 {
				t.Errorf("hits: broken %d, live %d; want 1 and 0", broken.hits(), live.hits())
			}
		})
	}
}

// A GET whose connection broke is sent once more, to another instance.
func TestBrokenGETIsRetriedOnce(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{"reset": reset, "hang up": hangUp} {
		t.Run(name, func(t *testing.T) {
			e := newGW(t, gwConfig{})
			broken, live := newUpstream(t), newUpstream(t)
			broken.setHandler(h)
			e.res.set("catalog", broken.addr(), live.addr())
			e.first(t, "catalog", 1)
			got := e.do(t, "GET", "/api/v1/products", "")
			if got.status != http.StatusOK {
				t.Fatalf("GET = %d %s, want 200 from the second instance", got.status, got.body)
			}
			if broken.hits() != 1 || live.hits() != 1 {
				t.Errorf("hits: broken %d, live %d; want 1 and 1", broken.hits(), live.hits())
			}
			// And the balancer counts it as a connection failure.
			for _, ep := range e.g.ups.service("catalog").bal.Endpoints() {
				if ep.ID == "catalog-1" && !ep.Ejected() {
					t.Errorf("the broken instance is not ejected")
				}
			}

			// With every instance broken: two attempts, then 503.
			e2 := newGW(t, gwConfig{})
			a, b := newUpstream(t), newUpstream(t)
			a.setHandler(h)
			b.setHandler(h)
			e2.res.set("catalog", a.addr(), b.addr())
			wantProblem(t, e2.do(t, "GET", "/api/v1/products", ""), http.StatusServiceUnavailable, "unavailable")
			if a.hits()+b.hits() != 2 {
				t.Errorf("attempts = %d, want 2 (one retry)", a.hits()+b.hits())
			}
		})
	}
}

func TestBreakerOpensAfterFiveFailures(t *testing.T) {
	e := newGW(t, gwConfig{})
	up := newUpstream(t)
	up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	e.res.set("catalog", up.addr())
	for i := range 5 {
		// The service's own 500 goes back as it is.
		if got := e.do(t, "GET", "/api/v1/products", ""); got.status != http.StatusInternalServerError {
			t.Fatalf("request %d = %d, want the service's 500", i+1, got.status)
		}
	}
	got := e.do(t, "GET", "/api/v1/products", "")
	p := wantProblem(t, got, http.StatusServiceUnavailable, "unavailable")
	if p.RetryAfter < 1 || p.RetryAfter > 2 {
		t.Errorf("retry_after = %d, want the breaker's remaining delay (1-2s)", p.RetryAfter)
	}
	if up.hits() != 5 {
		t.Errorf("the service saw %d requests, want 5: an open breaker answers alone", up.hits())
	}
	if st := e.g.ups.breakers()["catalog"]; st != "open" {
		t.Errorf("breaker state = %q, want open", st)
	}
	// Other services are not affected.
	other := newUpstream(t)
	e.res.set("search", other.addr())
	if got := e.do(t, "GET", "/api/v1/search?q=x", ""); got.status != 200 {
		t.Errorf("another service = %d, want 200", got.status)
	}
}

func TestTimeoutIs504(t *testing.T) {
	table := RouteTable{Routes: []Route{
		{Path: "/slow", Service: "slow", Timeout: Duration(150 * time.Millisecond)},
	}}
	e := newGW(t, gwConfig{routes: &table})
	up := newUpstream(t)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-done:
		}
	})
	e.res.set("slow", up.addr(), newUpstream(t).addr())
	e.first(t, "slow", 1)
	start := time.Now()
	got := e.do(t, "GET", "/slow", "")
	took := time.Since(start)
	wantProblem(t, got, http.StatusGatewayTimeout, "timeout")
	if took > time.Second {
		t.Errorf("answered after %s, want about the route's 150ms", took)
	}
	if up.hits() != 1 {
		t.Errorf("the slow instance saw %d requests, want 1", up.hits())
	}
}

// A route to an outside URL (the strangler fig's legacy system).
func TestURLTarget(t *testing.T) {
	legacy := newUpstream(t)
	table := RouteTable{Routes: []Route{
		{Prefix: "/legacy/", Targets: []Target{{URL: "http://" + legacy.addr()}}},
		{Path: "/gone", Targets: []Target{{URL: "http://" + deadAddr(t)}}},
	}}
	e := newGW(t, gwConfig{routes: &table})
	if got := e.do(t, "GET", "/legacy/page?x=1", ""); got.status != 200 {
		t.Fatalf("GET = %d %s", got.status, got.body)
	}
	r := legacy.requests()[0]
	if r.RequestURI != "/legacy/page?x=1" {
		t.Errorf("legacy saw %q", r.RequestURI)
	}
	if u := e.lastUpstream(t); u != legacy.addr() {
		t.Errorf("access log upstream = %q, want %s", u, legacy.addr())
	}
	wantProblem(t, e.do(t, "GET", "/gone", ""), http.StatusServiceUnavailable, "unavailable")
}
