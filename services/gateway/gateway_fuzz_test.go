package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/registry"
	"github.com/souk/souk/platform/telemetry"
)

// noInstances is a registry in which no service has an instance: every
// proxied request fails over to a 503, so the fuzzers exercise the
// gateway's own parsing, routing, authentication and errors.
type noInstances struct{}

func (noInstances) Instances(string) []registry.Instance { return nil }
func (noInstances) Generation() uint64                   { return 1 }

// fuzzTokens are signed with a fixed key at a fixed time, so corpus
// entries that carry them stay valid from run to run (their jti differs).
type fuzzTokens struct {
	customer, admin, service, expired string
}

var fuzzNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newFuzzGateway(f *testing.F) (*Gateway, fuzzTokens) {
	f.Helper()
	key := authn.SigningKey{ID: "fuzz-key", Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)), Created: fuzzNow}
	secret := []byte("0123456789abcdef0123456789abcdef")
	var toks fuzzTokens
	var err error
	sign := func(role string, at time.Time) string {
		var s string
		if s, err = authn.SignUser(key, "u-"+role, role+"@example.com", "Fuzz", role, at, 15*time.Minute); err != nil {
			f.Fatal(err)
		}
		return s
	}
	toks.customer, toks.admin, toks.expired = sign(authn.RoleCustomer, fuzzNow), sign(authn.RoleAdmin, fuzzNow), sign(authn.RoleCustomer, fuzzNow.Add(-time.Hour))
	if toks.service, err = authn.SignService(secret, "order", fuzzNow, 10*time.Minute); err != nil {
		f.Fatal(err)
	}
	table := DefaultRoutes()
	if err := table.prepare(); err != nil {
		f.Fatal(err)
	}
	g := &Gateway{
		ups: newUpstreams(noInstances{}),
		verifier: authn.NewVerifier(authn.Options{
			Keys:          func(kid string) (ed25519.PublicKey, bool) { return key.Public(), kid == key.ID },
			ServiceSecret: secret,
			Now:           func() time.Time { return fuzzNow },
		}),
		limits:    Limits{MaxInflight: 1 << 20},
		log:       slog.New(slog.DiscardHandler),
		access:    newAccessLog(io.Discard, "gateway", "gateway-fuzz"),
		metrics:   newMetrics(prometheus.NewRegistry()),
		clients:   newLimiterSet(0, 0),
		anonymous: newLimiterSet(0, 0),
		loginIP:   newLimiterSet(0, 0),
		loginAcct: newLimiterSet(0, 0),
		serveOps:  func(ctx *fasthttp.RequestCtx) { writeJSON(ctx, 200, map[string]string{"status": "ok"}) },
	}
	g.routes.Store(&table)
	g.handlers = map[string]func(*fasthttp.RequestCtx, *request){}
	for name := range handlers {
		g.handlers[name] = func(ctx *fasthttp.RequestCtx, r *request) { writeJSON(ctx, 200, map[string]string{"handler": name}) }
	}
	return g, toks
}

// serveRaw parses raw as the gateway's server would and serves it; a
// request that does not parse goes to the server's error handler, as
// fasthttp does. The limits are the server's scaled down (4 KiB of
// headers, 64 KiB of body, where the server has 16 KiB and 1 MiB) so that
// a mutated Content-Length does not cost a megabyte per run.
func serveRaw(g *Gateway, raw []byte) (*fasthttp.RequestCtx, bool) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	err := req.ReadLimitBody(bufio.NewReaderSize(bytes.NewReader(raw), 4<<10), 64<<10)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	if err != nil {
		g.serverError(&ctx, err)
		return &ctx, false
	}
	g.handle(&ctx)
	return &ctx, true
}

func fuzzRequests(t fuzzTokens) []string {
	auth := func(tok string) string { return "Authorization: Bearer " + tok + "\r\n" }
	order := `{"items":[{"product_id":"4521","quantity":1}],"payment":{"card_number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}}`
	post := func(path, hdr, body string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + hdr + "Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body
	}
	get := func(path, hdr string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + hdr + "\r\n" }
	return []string{
		get("/health", ""),
		get("/api/v1/products/4521", ""),
		get("/api/v1/products?limit=99999999999&cursor=%00", ""),
		get("/api/v1/orders", ""),
		get("/api/v1/orders", auth(t.customer)),
		get("/api/v1/orders", auth(t.expired)),
		get("/api/v1/orders", auth(t.service)),
		get("/api/v1/orders", "Authorization: Basic YTpi\r\n"),
		get("/api/v1/orders/..%2f..%2finternal/audit/orders", auth(t.customer)),
		get("/api/v1/orders/../../internal/audit/orders", auth(t.admin)),
		get("/internal/audit/orders", auth(t.admin)),
		get("/api/v1/admin/status", auth(t.customer)),
		get("/api/v1/admin/status", auth(t.admin)),
		get("/api/v1/admin/audit/orders/../../x", auth(t.admin)),
		get("/api/v1/warehouse/tasks", auth(t.customer)),
		get("/metrics", ""),
		get("/%ZZ", ""),
		get("//api//v1//orders", auth(t.customer)),
		get("/api/v1/products/"+strings.Repeat("a", 100), ""),
		"DELETE /api/v1/products HTTP/1.1\r\nHost: x\r\n\r\n",
		"BREW /api/v1/products HTTP/1.1\r\nHost: x\r\n\r\n",
		"get /health HTTP/1.1\r\nHost: x\r\n\r\n",
		post("/api/v1/orders", auth(t.customer), order),
		post("/api/v1/orders", auth(t.customer)+"Idempotency-Key: k1\r\nX-Request-Id: e2e-trace-1\r\n", order),
		post("/api/v1/orders", auth(t.customer)+"X-Request-Id: evil\"\\n\r\n", `{"items":{}}`),
		post("/api/v1/products", auth(t.customer), `{"name":"x"}`),
		post("/api/v1/auth/login", "", `{"email":" Ada@Example.com ","password":"x"}`),
		post("/api/v1/auth/login", "", `{"email":["x"]}`),
		post("/api/v1/admin/dlq/redrive", auth(t.admin), `{"seq":-1}`),
		post("/api/v1/admin/instances/order-1/kill", auth(t.customer), ``),
		"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{}",
		"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n{}",
		"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n",
		"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 5<<10) + "\r\n\r\n",
		"GET /health HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4, ::ffff:10.0.0.1, not-an-ip\r\n\r\n",
		"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + strings.Repeat("r", 65) + "\r\n\r\n",
		"GET /health HTTP/1.0\r\n\r\n",
		"GET /health HTTP/9.9\r\n\r\n",
		"GET\r\n\r\n",
		"\x00\xff\r\n\r\n",
		"",
	}
}

// short cuts raw for a failure message.
func short(raw []byte) []byte {
	if len(raw) > 300 {
		return append(raw[:300:300], "..."...)
	}
	return raw
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// FuzzGatewayRequest feeds raw HTTP requests to the gateway's parsing,
// routing, authentication, limits and error path: it must never panic nor
// answer 500, every answer carries X-Content-Type-Options: nosniff and a
// valid request id, every error is problem+json with a code, and an admin
// route succeeds only with the admin's token. Seeds are in
// testdata/fuzz/FuzzGatewayRequest.
func FuzzGatewayRequest(f *testing.F) {
	g, toks := newFuzzGateway(f)
	for _, s := range fuzzRequests(toks) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ctx, parsed := serveRaw(g, raw)
		resp := &ctx.Response
		status := resp.StatusCode()
		if status == 500 || status < 200 || status > 599 {
			t.Fatalf("status %d for %q: %s", status, short(raw), resp.Body())
		}
		if got := string(resp.Header.Peek("X-Content-Type-Options")); got != "nosniff" {
			t.Fatalf("status %d without nosniff (%q) for %q", status, got, short(raw))
		}
		if parsed && !telemetry.ValidRequestID(string(resp.Header.Peek(telemetry.HeaderRequestID))) {
			t.Fatalf("request id %q", resp.Header.Peek(telemetry.HeaderRequestID))
		}
		if status >= 400 {
			var p fault.Problem
			if ct := string(resp.Header.ContentType()); ct != fault.ContentType {
				t.Fatalf("status %d with content type %q", status, ct)
			}
			if err := json.Unmarshal(resp.Body(), &p); err != nil || p.Code == "" || p.Status != status {
				t.Fatalf("status %d, problem %q: %v", status, resp.Body(), err)
			}
			return
		}
		// Success on a protected route needs the right token. (Tokens carry
		// a random jti, so they are checked by role, not compared.)
		route, _ := g.routes.Load().match(string(ctx.Method()), string(ctx.Path()))
		if route == nil || route.Auth == AuthPublic {
			return
		}
		tok, _ := authn.BearerToken(string(ctx.Request.Header.Peek("Authorization")))
		p, err := g.verifier.Verify(context.Background(), tok)
		switch {
		case err != nil || p.IsService():
			t.Fatalf("%s route %s answered %d without a user token", route.Auth, ctx.Path(), status)
		case route.Auth == AuthAdmin && !p.IsAdmin():
			t.Fatalf("admin route %s answered %d to a %s", ctx.Path(), status, p.Role)
		}
	})
}

// FuzzRouteMatch checks the route matcher against its definition: the
// route it returns has the path (or a prefix of it) and the method, no
// more specific route would also have taken the request, and "path
// matched" is reported exactly when some route had the path but not the
// method. Nothing under /internal is ever matched.
func FuzzRouteMatch(f *testing.F) {
	for _, s := range []struct{ method, path string }{
		{"GET", "/health"}, {"GET", "/api/v1/products"}, {"POST", "/api/v1/products"}, {"DELETE", "/api/v1/products"},
		{"GET", "/api/v1/products/4521"}, {"PUT", "/api/v1/products/4521"}, {"GET", "/api/v1/orders/x/history"},
		{"GET", "/internal/audit/orders"}, {"GET", "/api/v1/admin/audit/orders/../x"}, {"get", "/"}, {"GET", ""}, {"", "/ui/x"},
	} {
		f.Add(s.method, s.path)
	}
	table := DefaultRoutes()
	if err := table.prepare(); err != nil {
		f.Fatal(err)
	}
	has := func(rt *Route, path string) bool {
		return (rt.Path != "" && rt.Path == path) || (rt.Prefix != "" && strings.HasPrefix(path, rt.Prefix) &&
			(strings.HasSuffix(rt.Prefix, "/") || len(path) == len(rt.Prefix) || path[len(rt.Prefix)] == '/'))
	}
	allows := func(rt *Route, method string) bool {
		return len(rt.Methods) == 0 || slices.Contains(rt.Methods, method)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		got, pathMatched := table.match(method, path)
		wantPathMatched := false
		var want *Route
		for i := range table.Routes {
			rt := &table.Routes[i]
			if !has(rt, path) {
				continue
			}
			if allows(rt, method) {
				if want == nil {
					want = rt
				}
			} else if want == nil {
				wantPathMatched = true
			}
		}
		if got != want {
			t.Fatalf("match(%q, %q) = %+v, want %+v", method, path, got, want)
		}
		if got == nil && pathMatched != wantPathMatched {
			t.Fatalf("match(%q, %q) path matched = %v, want %v", method, path, pathMatched, wantPathMatched)
		}
		if got != nil {
			if strings.HasPrefix(got.Path+got.Prefix, "/internal") {
				t.Fatalf("matched an internal route %+v", got)
			}
			// The most specific route wins: no route with a longer
			// path or prefix also takes the request.
			for i := range table.Routes {
				rt := &table.Routes[i]
				if has(rt, path) && allows(rt, method) && len(rt.Path+rt.Prefix) > len(got.Path+got.Prefix) {
					t.Fatalf("match(%q, %q) took %s over the more specific %s", method, path, got.name, rt.name)
				}
			}
		}
	})
}

// FuzzLoginEmail checks the login body reader of the rate limiter: it
// never panics, reads nothing from a body over 4 KiB or not JSON, and what
// it returns is trimmed and lower-cased.
func FuzzLoginEmail(f *testing.F) {
	for _, s := range []string{
		`{"email":"Ada@Example.com","password":"x"}`, `{"email":"  ADA@EXAMPLE.COM  "}`, `{"email":["x"]}`, `{"email":null}`,
		`{"email":"a@b","email":"c@d"}`, `{"EMAIL":"a@b"}`, `{"email":"İ@x"}`, `{"email":"` + strings.Repeat("a", 5000) + `"}`, `x`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := loginEmail(body)
		if got == "" {
			return
		}
		if len(body) > 4096 || !json.Valid(body) {
			t.Fatalf("read %q from a body the auth service would refuse: %q", got, body)
		}
		if got != strings.TrimSpace(got) && utf8.ValidString(got) {
			t.Fatalf("%q is not trimmed", got)
		}
	})
}

// FuzzClientIP checks the X-Forwarded-For reading: an untrusted peer is
// never overridden, and a trusted one yields the peer or an address that
// is in the header and not trusted.
func FuzzClientIP(f *testing.F) {
	for _, s := range []struct{ peer, xff string }{
		{"127.0.0.1", "203.0.113.7"}, {"127.0.0.1", "203.0.113.7, 10.0.0.2, 127.0.0.1"}, {"198.51.100.1", "203.0.113.7"},
		{"127.0.0.1", "not-an-ip"}, {"127.0.0.1", "::ffff:203.0.113.7"}, {"::1", ", ,"}, {"127.0.0.1", strings.Repeat("1.1.1.1,", 1000)},
		{"127.0.0.1", "fe80::1%eth0"}, {"127.0.0.1", "127.0.0.2"},
	} {
		f.Add(s.peer, s.xff)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, peerText, xff string) {
		peer, err := netip.ParseAddr(peerText)
		if err != nil {
			return
		}
		got := clientIP(peer, xff, trusted)
		if got == peer {
			return
		}
		if !isTrusted(peer, trusted) {
			t.Fatalf("untrusted peer %v overridden by %q → %v", peer, xff, got)
		}
		inHeader := false
		for _, part := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(part)); err == nil && a.Unmap() == got {
				inHeader = true
			}
		}
		if isTrusted(got, trusted) || !inHeader {
			t.Fatalf("peer %v, X-Forwarded-For %q → %v", peer, xff, got)
		}
	})
}

// FuzzWriteJSONString checks the access log's string escaping
// (appendJSONString; the name keeps its corpus in testdata): the output
// is one JSON string, on one line, that decodes to the input (invalid
// UTF-8 aside, which decodes to U+FFFD as encoding/json does).
func FuzzWriteJSONString(f *testing.F) {
	for _, s := range []string{"", "/api/v1/orders", "a\"b\\c", "line\nforged\r\n{\"level\":\"ERROR\"}", "\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "☕"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		out := appendJSONString(nil, s)
		if bytes.ContainsAny(out, "\r\n") {
			t.Fatalf("%q escapes to %q, which spans lines", s, out)
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q escapes to %q, not a JSON string: %v", s, out, err)
		}
		if want := strings.ToValidUTF8(string(s), "\ufffd"); utf8.Valid(s) && got != want {
			t.Fatalf("%q escapes to %q, which decodes to %q", s, out, got)
		}
	})
}
