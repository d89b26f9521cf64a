package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/authn"
)

func TestProxyForwards(t *testing.T) {
	e := newGW(t, gwConfig{})
	up := newUpstream(t)
	e.res.set("catalog", up.addr())
	up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-From-Upstream", "yes")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"created":true}`))
	})
	got := e.do(t, "GET", "/api/v1/products?limit=2&q=a%20b", "")
	if got.status != http.StatusCreated || string(got.body) != `{"created":true}` || got.header.Get("X-From-Upstream") != "yes" {
		t.Fatalf("answer = %d %q %v, want the upstream's 201", got.status, got.body, got.header)
	}
	reqs := up.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.RequestURI != "/api/v1/products?limit=2&q=a%20b" {
		t.Errorf("upstream request URI = %q, want the path and query as sent", r.RequestURI)
	}
	id := got.header.Get("X-Request-Id")
	if id == "" || r.Header.Get("X-Request-Id") != id {
		t.Errorf("request id: upstream %q, client %q; want one, the same", r.Header.Get("X-Request-Id"), id)
	}
	if r.Header.Get("X-Forwarded-For") != "127.0.0.1" || r.Header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("forwarding headers = %v", r.Header)
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
		if v := got.header.Get(k); v != want {
			t.Errorf("response %s = %q, want %q", k, v, want)
		}
	}

	// An upstream's own Cache-Control is kept.
	up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
	})
	if cc := e.do(t, "GET", "/api/v1/products", "").header.Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("Cache-Control = %q, want the upstream's", cc)
	}

	// A POST body goes through whole.
	body := strings.Repeat("x", 300<<10)
	e.res.set("auth", up.addr())
	if got := e.do(t, "POST", "/api/v1/auth/signup", body, "Content-Type: application/json"); got.status != http.StatusOK {
		t.Fatalf("POST = %d %s", got.status, got.body)
	}
	if last := up.requests()[len(up.requests())-1]; last.Method != "POST" || last.Body != body {
		t.Errorf("upstream got %s with %d bytes, want POST with %d", last.Method, len(last.Body), len(body))
	}
}

func TestRewriteReachesInternalAudit(t *testing.T) {
	e := newGW(t, gwConfig{})
	up := newUpstream(t)
	for _, s := range []string{"order", "payment", "inventory", "notification", "warehouse"} {
		e.res.set(s, up.addr())
	}
	admin := "Authorization: Bearer " + e.token(t, "admin-1", authn.RoleAdmin)
	tests := []struct{ path, want string }{
		{"/api/v1/admin/audit/orders", "/internal/audit/orders"},
		{"/api/v1/admin/audit/orders?limit=5&cursor=x", "/internal/audit/orders?limit=5&cursor=x"},
		{"/api/v1/admin/audit/orders/ord-1", "/internal/audit/orders/ord-1"},
		{"/api/v1/admin/audit/charges", "/internal/audit/charges"},
		{"/api/v1/admin/audit/stock", "/internal/audit/stock"},
		{"/api/v1/admin/audit/reservations", "/internal/audit/reservations"},
		{"/api/v1/admin/audit/notifications", "/internal/audit/notifications"},
		{"/api/v1/admin/audit/tasks", "/internal/audit/tasks"},
		// Normalised before the rewrite: the dots cannot climb out.
		{"/api/v1/admin/audit/orders/../orders/x", "/internal/audit/orders/x"},
	}
	for _, tt := range tests {
		if got := e.do(t, "GET", tt.path, "", admin); got.status != http.StatusOK {
			t.Errorf("GET %s = %d %s", tt.path, got.status, got.body)
			continue
		}
		reqs := up.requests()
		if got := reqs[len(reqs)-1].RequestURI; got != tt.want {
			t.Errorf("GET %s reached the service as %q, want %q", tt.path, got, tt.want)
		}
	}
	before := up.hits()
	customer := "Authorization: Bearer " + e.token(t, "cust-1", authn.RoleCustomer)
	wantProblem(t, e.do(t, "GET", "/api/v1/admin/audit/orders", "", customer), http.StatusForbidden, "forbidden")
	wantProblem(t, e.do(t, "GET", "/api/v1/admin/audit/orders", ""), http.StatusUnauthorized, "unauthorized")
	if up.hits() != before {
		t.Errorf("a non-admin request reached the audit endpoint")
	}
}

// A user or public route may rewrite to another public path, never into
// /internal, whatever the client appends.
func TestRewriteForUsers(t *testing.T) {
	table := RouteTable{Routes: []Route{
		{Prefix: "/me/keys", Methods: []string{"GET"}, Auth: AuthUser, Service: "auth", Rewrite: "/.well-known/jwks.json"},
		{Prefix: "/pub/", Methods: []string{"GET"}, Service: "auth", Rewrite: "/"},
		{Prefix: "/half/", Methods: []string{"GET"}, Service: "auth", Rewrite: "/inter"},
	}}
	e := newGW(t, gwConfig{routes: &table})
	up := newUpstream(t)
	e.res.set("auth", up.addr())
	user := "Authorization: Bearer " + e.token(t, "cust-1", authn.RoleCustomer)

	if got := e.do(t, "GET", "/me/keys", "", user); got.status != http.StatusOK {
		t.Fatalf("GET /me/keys = %d %s", got.status, got.body)
	}
	if got, want := up.requests()[0].RequestURI, "/.well-known/jwks.json"; got != want {
		t.Errorf("GET /me/keys reached the service as %q, want %q", got, want)
	}
	wantProblem(t, e.do(t, "GET", "/me/keys", ""), http.StatusUnauthorized, "unauthorized")
	if got := e.do(t, "GET", "/pub/catalog/x", ""); got.status != http.StatusOK {
		t.Fatalf("GET /pub/catalog/x = %d %s", got.status, got.body)
	}
	if got, want := up.requests()[1].RequestURI, "/catalog/x"; got != want {
		t.Errorf("GET /pub/catalog/x reached the service as %q, want %q", got, want)
	}

	before := up.hits()
	for _, path := range []string{"/pub/internal/audit/orders", "/pub//internal/audit/orders", "/pub/x/../internal/audit", "/pub/%69nternal/audit", "/half/nal/audit/orders"} {
		wantProblem(t, e.do(t, "GET", path, ""), http.StatusNotFound, "not_found")
	}
	if up.hits() != before {
		t.Errorf("a rewrite for the public reached /internal: %+v", up.requests()[before:])
	}
}

// No path a client sends reaches a service's /internal endpoints except
// through an admin rewrite, and the path a service sees is the one the
// gateway routed on.
func TestPathNormalisation(t *testing.T) {
	e := newGW(t, gwConfig{})
	up := newUpstream(t)
	for _, s := range []string{"inventory", "order", "user", "catalog", "recommendation"} {
		e.res.set(s, up.addr())
	}
	user := "Authorization: Bearer " + e.token(t, "cust-1", authn.RoleCustomer)
	tests := []struct {
		path     string
		status   int
		upstream string // the decoded path the service sees; "" when not reached
	}{
		{"/api/v1/inventory/../../../internal/audit/stock", 404, ""},
		{"/api/v1/inventory/%2e%2e/%2e%2e/%2e%2e/internal/audit/stock", 404, ""},
		{"/api/v1/inventory/..%2f..%2f..%2finternal/audit/stock", 404, ""},
		{"/api/v1/inventory/%2E%2E%2F%2E%2E%2F%2E%2E%2Finternal/audit/stock", 404, ""},
		{"/api/v1/inventory/..\\..\\..\\internal/audit/stock", 200, "/api/v1/inventory/..\\..\\..\\internal/audit/stock"},
		{"//internal/audit/stock", 404, ""},
		{"/api/v1/products/../../internal/audit/orders", 404, ""},
		{"/api/v1/orders/../../internal/audit/orders", 404, ""},
		{"/api/v1/recommendations/./../../../internal/x", 404, ""},
		{"/api/v1/inventory/./p1", 200, "/api/v1/inventory/p1"},
		{"/api/v1//inventory//p1", 200, "/api/v1/inventory/p1"},
		// Escapes decoded by the gateway are escaped again on the way out,
		// so the service decodes exactly once.
		{"/api/v1/inventory/%252e%252e/%252e%252e/%252e%252e/internal/audit/stock", 200, "/api/v1/inventory/%2e%2e/%2e%2e/%2e%2e/internal/audit/stock"},
		{"/api/v1/inventory/a%3Fb", 200, "/api/v1/inventory/a?b"},
		{"/api/v1/inventory/a%23b", 200, "/api/v1/inventory/a#b"},
		{"/api/v1/inventory/a%20b", 200, "/api/v1/inventory/a b"},
		{"/api/v1/inventory/a%25b", 200, "/api/v1/inventory/a%b"},
		{"/api/v1/inventory/caf%C3%A9", 200, "/api/v1/inventory/café"},
		{"/api/v1/inventory/x%20HTTP/1.1%0d%0aHost:%20a%0d%0a%0d%0aGET%20/internal/audit/stock", 200, ""},
	}
	for _, tt := range tests {
		before := up.hits()
		got := e.raw(t, "GET "+tt.path+" HTTP/1.1\r\nHost: souk\r\n"+user+"\r\nConnection: close\r\n\r\n")
		if got.status != tt.status {
			t.Errorf("GET %s = %d %s, want %d", tt.path, got.status, got.body, tt.status)
		}
		reqs := up.requests()
		switch {
		case tt.status != 200 && len(reqs) != before:
			t.Errorf("GET %s reached the service as %q", tt.path, reqs[len(reqs)-1].RequestURI)
		case tt.status == 200 && len(reqs) != before+1:
			t.Errorf("GET %s: the service saw %d requests, want 1", tt.path, len(reqs)-before)
		case tt.status == 200 && tt.upstream != "" && reqs[len(reqs)-1].Path != tt.upstream:
			t.Errorf("GET %s reached the service as path %q (%q), want %q", tt.path, reqs[len(reqs)-1].Path, reqs[len(reqs)-1].RequestURI, tt.upstream)
		}
	}
	for _, r := range up.requests() {
		u, err := url.ParseRequestURI(r.RequestURI)
		if err != nil || strings.HasPrefix(u.Path, "/internal") || strings.HasPrefix(r.Path, "/internal") {
			t.Errorf("a service saw %q (path %q)", r.RequestURI, r.Path)
		}
		if len(r.Header.Values("Host")) > 0 || r.Header.Get("X-Injected") != "" {
			t.Errorf("a service saw injected headers: %v", r.Header)
		}
	}
}

func TestHopByHopHeadersStripped(t *testing.T) {
	e := newGW(t, gwConfig{})
	up := newUpstream(t)
	e.res.set("catalog", up.addr())
	up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("Upgrade", "h2c")
		h.Set("Trailer", "X-Sum")
		h.Set("X-Kept", "1")
		h.Set("Connection", "X-Hop-Resp")
		h.Set("X-Hop-Resp", "1")
	})
	got := e.raw(t, "GET /api/v1/products HTTP/1.1\r\nHost: souk\r\n"+
		"Keep-Alive: timeout=99\r\nProxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\n"+
		"Te: trailers\r\nTrailer: X-Sum\r\nUpgrade: websocket\r\nX-Kept: 1\r\n"+
		// Headers named in Connection are hop-by-hop too.
		"Connection: keep-alive, X-Hop-Req\r\nX-Hop-Req: 1\r\n\r\n")
	if got.status != 200 {
		t.Fatalf("status %d %s", got.status, got.body)
	}
	reqs := up.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	for _, h := range hopHeaders {
		if v := reqs[0].Header.Get(h); v != "" && !(h == "Connection" && v == "close") {
			t.Errorf("the service got %s: %q", h, v)
		}
	}
	if v := reqs[0].Header.Get("X-Hop-Req"); v != "" {
		t.Errorf("the service got X-Hop-Req %q, a header the client named in Connection", v)
	}
	if reqs[0].Header.Get("X-Kept") != "1" {
		t.Errorf("an end-to-end header was dropped: %v", reqs[0].Header)
	}
	for _, h := range []string{"Keep-Alive", "Proxy-Authenticate", "Upgrade", "Trailer"} {
		if v := got.header.Get(h); v != "" {
			t.Errorf("the client got %s: %q", h, v)
		}
	}
	if v := got.header.Get("X-Hop-Resp"); v != "" {
		t.Errorf("the client got X-Hop-Resp %q, a header the service named in Connection", v)
	}
	if got.header.Get("X-Kept") != "1" {
		t.Errorf("an end-to-end response header was dropped: %v", got.header)
	}

	// Naming the framing headers in Connection does not break the framing
	// of what is forwarded.
	e.res.set("auth", up.addr())
	up.setHandler(nil)
	body := `{"email":"a@b.c"}`
	got = e.raw(t, "POST /api/v1/auth/signup HTTP/1.1\r\nHost: souk\r\nConnection: Content-Length, Transfer-Encoding, Host\r\n"+
		"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	reqs = up.requests()
	if last := reqs[len(reqs)-1]; got.status != 200 || last.Method != "POST" || last.Body != body {
		t.Errorf("POST naming its framing headers in Connection: %d, the service got %s %q", got.status, last.Method, last.Body)
	}
}

func TestRequestID(t *testing.T) {
	e := newGW(t, gwConfig{})
	up := newUpstream(t)
	e.res.set("catalog", up.addr())
	tests := []struct {
		name, sent string
		adopted    bool
	}{
		{"valid", "trace-abc_1.2", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"65 characters", strings.Repeat("a", 65), false},
		{"quote and backslash", `evil"\id`, false},
		{"space", "a b", false},
		{"unicode", "idé", false},
		{"json breaker", `x","level":"ERROR`, false},
	}
	for _, tt := range tests {
		got := e.raw(t, "GET /api/v1/products HTTP/1.1\r\nHost: souk\r\nX-Request-Id: "+tt.sent+"\r\nConnection: close\r\n\r\n")
		echoed := got.header.Get("X-Request-Id")
		reqs := up.requests()
		forwarded := reqs[len(reqs)-1].Header.Get("X-Request-Id")
		if tt.adopted && echoed != tt.sent {
			t.Errorf("%s: echoed %q, want the id sent", tt.name, echoed)
		}
		if !tt.adopted && (echoed == tt.sent || len(echoed) != 16) {
			t.Errorf("%s: echoed %q, want a fresh 16-digit id", tt.name, echoed)
		}
		if forwarded != echoed {
			t.Errorf("%s: forwarded %q, echoed %q; want the same", tt.name, forwarded, echoed)
		}
	}
	// Errors carry it too, and an absent one is made up.
	got := e.do(t, "GET", "/nowhere", "")
	if p := wantProblem(t, got, http.StatusNotFound, "not_found"); len(p.RequestID) != 16 {
		t.Errorf("request id %q, want 16 hex digits", p.RequestID)
	}
}

func TestForwardedFor(t *testing.T) {
	up := newUpstream(t)
	tests := []struct {
		name    string
		trusted bool
		xff     string
		want    string
	}{
		{"trusted peer", true, "203.0.113.7", "203.0.113.7"},
		{"trusted peer, chain", true, "198.51.100.1, 203.0.113.7", "203.0.113.7"},
		{"trusted peer, no header", true, "", "127.0.0.1"},
		{"untrusted peer", false, "203.0.113.7", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := Limits{}
			if tt.trusted {
				lim.TrustedProxies = []netip.Prefix{loopback()}
			}
			e := newGW(t, gwConfig{limits: lim})
			e.res.set("catalog", up.addr())
			hdr := []string{}
			if tt.xff != "" {
				hdr = append(hdr, "X-Forwarded-For: "+tt.xff)
			}
			if got := e.do(t, "GET", "/api/v1/products", "", hdr...); got.status != 200 {
				t.Fatalf("status %d", got.status)
			}
			reqs := up.requests()
			if got := reqs[len(reqs)-1].Header.Values("X-Forwarded-For"); !cmp.Equal(got, []string{tt.want}) {
				t.Errorf("the service got X-Forwarded-For %q, want %q", got, tt.want)
			}
			lines := e.accessLines(t)
			if got := lines[len(lines)-1]["client_ip"]; got != tt.want {
				t.Errorf("access log client_ip = %v, want %s", got, tt.want)
			}
		})
	}
}

// An outside upstream that closes idle keep-alive connections sooner than
// the gateway drops them: the next request finds its connection closed and
// is sent again on a new one, not answered 503.
func TestURLTargetSurvivesIdleClose(t *testing.T) {
	legacy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"legacy":true}`)
	}))
	legacy.Config.IdleTimeout = 50 * time.Millisecond
	legacy.Start()
	t.Cleanup(legacy.Close)
	table := RouteTable{Routes: []Route{{Prefix: "/old/", Targets: []Target{{URL: legacy.URL}}}}}
	if err := table.prepare(); err != nil {
		t.Fatal(err)
	}
	e := newGW(t, gwConfig{routes: &table})
	for i := 0; i < 3; i++ {
		if got := e.do(t, "GET", "/old/report", ""); got.status != 200 {
			t.Fatalf("request %d = %d %s, want 200", i, got.status, got.body)
		}
		time.Sleep(200 * time.Millisecond) // the upstream closes the idle connection
	}
}
