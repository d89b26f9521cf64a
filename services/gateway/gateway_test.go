package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/platform/authn"
)

func TestAuth(t *testing.T) {
	e := newGW(t, gwConfig{})
	up := newUpstream(t)
	for _, s := range []string{"catalog", "order", "user"} {
		e.res.set(s, up.addr())
	}
	customer := e.token(t, "cust-1", authn.RoleCustomer)
	admin := e.token(t, "admin-1", authn.RoleAdmin)
	service, err := authn.SignService(e.secret, "order", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := authn.SignUser(e.key, "cust-1", "c@x", "C", authn.RoleCustomer, time.Now().Add(-time.Hour), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := authn.NewSigningKey(time.Now())
	foreign, _ := authn.SignUser(otherKey, "cust-1", "c@x", "C", authn.RoleCustomer, time.Now(), time.Minute)
	tampered := customer[:len(customer)-4] + "AAAA"
	if tampered == customer {
		tampered = customer[:len(customer)-4] + "BBBB"
	}
	// A customer token whose payload claims admin, signature unchanged.
	parts := strings.Split(customer, ".")
	forgedRole := parts[0] + "." + b64(strings.Replace(unb64(t, parts[1]), `"role":"customer"`, `"role":"admin"`, 1)) + "." + parts[2]

	bearer := func(tok string) string { return "Authorization: Bearer " + tok }
	tests := []struct {
		name, method, path, auth string
		status                   int
		code                     string
	}{
		{"public without a token", "GET", "/api/v1/products", "", 200, ""},
		{"public with a bad token (not checked)", "GET", "/api/v1/products", bearer("garbage"), 200, ""},
		{"user route without a token", "GET", "/api/v1/orders", "", 401, "unauthorized"},
		{"user route, Basic auth", "GET", "/api/v1/orders", "Authorization: Basic YTpi", 401, "unauthorized"},
		{"user route, tampered token", "GET", "/api/v1/orders", bearer(tampered), 401, "invalid_token"},
		{"user route, forged role", "GET", "/api/v1/orders", bearer(forgedRole), 401, "invalid_token"},
		{"user route, unknown key", "GET", "/api/v1/orders", bearer(foreign), 401, ""},
		{"user route, expired token", "GET", "/api/v1/orders", bearer(expired), 401, "token_expired"},
		{"user route, customer", "GET", "/api/v1/orders", bearer(customer), 200, ""},
		{"user route, lower-case bearer", "GET", "/api/v1/orders", "Authorization: bearer " + customer, 200, ""},
		{"user route, service token", "GET", "/api/v1/orders", bearer(service), 403, "forbidden"},
		{"admin route, customer", "POST", "/api/v1/products", bearer(customer), 403, "forbidden"},
		{"admin route, service token", "POST", "/api/v1/products", bearer(service), 403, "forbidden"},
		{"admin route, admin", "POST", "/api/v1/products", bearer(admin), 200, ""},
		{"admin route without a token", "POST", "/api/v1/products", "", 401, "unauthorized"},
	}
	for _, tt := range tests {
		before := up.hits()
		var hdr []string
		if tt.auth != "" {
			hdr = append(hdr, tt.auth)
		}
		got := e.do(t, tt.method, tt.path, "", hdr...)
		if tt.status == 200 {
			if got.status != 200 || up.hits() != before+1 {
				t.Errorf("%s: %d %s, want 200 from the service", tt.name, got.status, got.body)
			}
			continue
		}
		if got.status != tt.status {
			t.Errorf("%s: status %d %s, want %d", tt.name, got.status, got.body, tt.status)
			continue
		}
		p := wantProblem(t, got, tt.status, got.problem(t).Code)
		if tt.code != "" && p.Code != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, p.Code, tt.code)
		}
		if up.hits() != before {
			t.Errorf("%s: the request reached the service", tt.name)
		}
	}
	// A user's token goes on to the service, which acts on the user's behalf.
	e.do(t, "GET", "/api/v1/orders", "", bearer(customer))
	reqs := up.requests()
	if got := reqs[len(reqs)-1].Header.Get("Authorization"); got != "Bearer "+customer {
		t.Errorf("the service got Authorization %q, want the user's token", got)
	}
	lines := e.accessLines(t)
	if u := lines[len(lines)-1]["user"]; u != "cust-1" {
		t.Errorf("access log user = %v, want cust-1", u)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	e := newGW(t, gwConfig{})
	wantProblem(t, e.do(t, "GET", "/no/such/thing", ""), http.StatusNotFound, "not_found")
	del := e.do(t, "DELETE", "/api/v1/products", "")
	p := wantProblem(t, del, http.StatusMethodNotAllowed, "method_not_allowed")
	if p.Instance != "/api/v1/products" {
		t.Errorf("instance = %q", p.Instance)
	}
	if got := del.header.Get("Allow"); got != "GET, POST" {
		t.Errorf("Allow = %q, want \"GET, POST\"", got)
	}
	// The built-in operational endpoints.
	if got := e.do(t, "GET", "/health/live", ""); got.status != 200 || !strings.Contains(string(got.body), "/health/live") {
		t.Errorf("/health/live = %d %s", got.status, got.body)
	}
	wantProblem(t, e.do(t, "POST", "/health/live", ""), http.StatusNotFound, "not_found")
	if got := e.do(t, "GET", "/metrics", ""); got.status != 200 {
		t.Errorf("/metrics from loopback = %d, want 200", got.status)
	}
	if got := e.do(t, "GET", "/health", ""); got.status != 200 || e.handled.Load() != 1 {
		t.Errorf("/health = %d, handler calls %d; want the health handler", got.status, e.handled.Load())
	}
}

// /metrics is only for the machine itself: through a trusted proxy, the
// client's address decides.
func TestMetricsOnlyFromLoopback(t *testing.T) {
	lim := Limits{TrustedProxies: []netip.Prefix{loopback()}}
	e := newGW(t, gwConfig{limits: lim})
	wantProblem(t, e.do(t, "GET", "/metrics", "", "X-Forwarded-For: 203.0.113.5"), http.StatusNotFound, "not_found")
	if got := e.do(t, "GET", "/metrics", ""); got.status != 200 {
		t.Errorf("/metrics from loopback = %d, want 200", got.status)
	}
}

func TestAccessLogLinesAreJSON(t *testing.T) {
	e := newGW(t, gwConfig{})
	up := newUpstream(t)
	e.res.set("catalog", up.addr())
	e.res.set("order", up.addr())
	tok := e.token(t, "cust-7", authn.RoleCustomer)
	e.do(t, "GET", "/api/v1/products?q=1", "", "X-Request-Id: req-1")
	e.do(t, "GET", "/api/v1/orders", "", "Authorization: Bearer "+tok, "X-Request-Id: req-2")
	hostile := []string{
		"GET /api/v1/\"quoted\"\\path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /api/v1/%22%0a%7b%22level%22:%22ERROR%22%7d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /%00%01%7f%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /api/v1/products HTTP/1.1\r\nHost: x\r\nX-Request-Id: \"},{\"x\r\nConnection: close\r\n\r\n",
	}
	for _, raw := range hostile {
		e.raw(t, raw)
	}
	// Requests fasthttp refuses to parse (a method with a quote) are
	// answered by serverError, which logs them too, without breaking the
	// log.
	rejected := []string{
		"BR\"EW /api/v1/products HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET\\ /api/v1/products HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	}
	for _, raw := range rejected {
		if got := e.raw(t, raw); got.status != http.StatusBadRequest {
			t.Errorf("%q = %d, want 400", raw, got.status)
		}
	}
	lines := e.accessLines(t)
	if want := 2 + len(hostile) + len(rejected); len(lines) != want {
		t.Fatalf("%d access log lines, want %d:\n%s", len(lines), want, e.logs.String())
	}
	for i, l := range lines {
		for _, k := range []string{"time", "level", "msg", "service", "instance", "method", "route", "path", "status", "ms", "user", "request_id", "upstream", "client_ip"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d lacks %q: %v", i, k, l)
			}
		}
		if _, err := l["status"].(json.Number).Int64(); err != nil {
			t.Errorf("line %d status %v is not an integer", i, l["status"])
		}
		if _, err := l["ms"].(json.Number).Float64(); err != nil {
			t.Errorf("line %d ms %v is not a number", i, l["ms"])
		}
	}
	first, second := lines[0], lines[1]
	want := map[string]any{"method": "GET", "route": "/api/v1/products", "path": "/api/v1/products", "request_id": "req-1", "upstream": "catalog-1", "user": "", "client_ip": "127.0.0.1", "service": "gateway", "instance": "gateway-1", "msg": "request", "level": "INFO"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("first line %s = %v, want %v", k, first[k], v)
		}
	}
	if second["user"] != "cust-7" || second["route"] != "/api/v1/orders" || second["request_id"] != "req-2" || second["upstream"] != "order-1" {
		t.Errorf("second line = %v, want user cust-7 on /api/v1/orders with req-2 via order-1", second)
	}
	paths := map[string]bool{}
	for _, l := range lines {
		paths[l["path"].(string)] = true
	}
	for _, p := range []string{`/api/v1/"quoted"\path`, "/api/v1/\"\n{\"level\":\"ERROR\"}", "/\x00\x01\x7f\ufffd\ufffd"} {
		if !paths[p] {
			t.Errorf("no line has the path %q; paths: %v", p, paths)
		}
	}
}

func TestWatchRoutesReloads(t *testing.T) {
	e := newGW(t, gwConfig{})
	a, b := newUpstream(t), newUpstream(t)
	e.res.set("alpha", a.addr())
	e.res.set("beta", b.addr())
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write := func(s string, age time.Duration) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		// Distinct modification times, whatever the file system's
		// granularity.
		mt := time.Now().Add(-age)
		if err := os.Chtimes(path, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write("routes: [{prefix: /x/, service: alpha}]\n", 3*time.Hour)
	table, err := LoadRoutes(path)
	if err != nil {
		t.Fatal(err)
	}
	e.g.routes.Store(&table)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.g.watchRoutes(path)(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watchRoutes returned %v", err)
		}
	})
	if got := e.do(t, "GET", "/x/1", ""); got.status != 200 || a.hits() != 1 {
		t.Fatalf("before the change: %d, alpha hits %d", got.status, a.hits())
	}

	write("routes: [{prefix: /x/, service: beta}]\n", 2*time.Hour)
	waitUntil(t, "the new table", 5*time.Second, func() bool {
		e.do(t, "GET", "/x/2", "")
		return b.hits() > 0
	})

	// A broken file is refused and the running table kept.
	write("routes: [{prefix: /internal/, service: alpha}]\n", time.Hour)
	time.Sleep(1200 * time.Millisecond) // two checks
	hits := b.hits()
	if got := e.do(t, "GET", "/x/3", ""); got.status != 200 || b.hits() != hits+1 {
		t.Errorf("after a bad file: %d, beta hits %d→%d; want the last good table", got.status, hits, b.hits())
	}
	if !strings.Contains(e.appLog.String(), "routes file rejected") {
		t.Errorf("the rejection was not logged: %s", e.appLog.String())
	}
	// And a removed file changes nothing.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if got := e.do(t, "GET", "/x/4", ""); got.status != 200 {
		t.Errorf("after removing the file: %d", got.status)
	}
}

func TestServerErrors(t *testing.T) {
	e := newGW(t, gwConfig{})
	up := newUpstream(t)
	e.res.set("auth", up.addr())

	big := strings.Repeat("x", 1<<20+1)
	got := e.raw(t, "POST /api/v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(big))+"\r\n\r\n"+big)
	wantServerProblem(t, got, http.StatusRequestEntityTooLarge, "too_large")

	huge := strings.Repeat("a", 20<<10)
	got = e.raw(t, "GET /api/v1/products HTTP/1.1\r\nHost: x\r\nX-Big: "+huge+"\r\n\r\n")
	wantServerProblem(t, got, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large")

	got = e.raw(t, "GET /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
	wantServerProblem(t, got, http.StatusBadRequest, "malformed_request")
	if up.hits() != 0 {
		t.Errorf("a rejected request reached the service")
	}
}

// wantServerProblem is wantProblem for answers written before the handler
// runs, which carry no request id.
func wantServerProblem(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("answer = %d %s %s, want %d problem+json", r.status, r.header.Get("Content-Type"), r.body, status)
		return
	}
	p := r.problem(t)
	if p.Code != code || p.Status != status {
		t.Errorf("problem = %+v, want code %q and status %d", p, code, status)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("security headers missing: %v", r.header)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func unb64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
