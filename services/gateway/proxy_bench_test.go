package gateway

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/souk/souk/platform/authn"
)

// The benchmarks run the gateway's handler on one goroutine against an
// upstream on an in-memory listener: no sockets, so what they measure is
// the gateway's own work per request (routing, headers, the upstream
// client, the access log, metrics) and its allocations. bench/gateway.sh
// measures the whole path with real sockets against nginx.

// jwks is an answer the size of the auth service's JWKS.
var jwks = []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k-20261127T082229Z","x":"Wn1hNk8ZbJ2cQ7m3pX9vF0aT4sL6eR1uY5iO8wK2dGs","use":"sig","alg":"EdDSA"}]}` + strings.Repeat(" ", 40))

// benchGateway is a gateway whose auth service answers jwks in memory.
func benchGateway(b *testing.B) *gw {
	b.Helper()
	ln := fasthttputil.NewInmemoryListener()
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(jwks)
	}}
	go func() { _ = up.Serve(ln) }()
	b.Cleanup(func() { _ = up.Shutdown() })
	table := DefaultRoutes()
	table.Routes = append(table.Routes, Route{Prefix: "/bench/jwks.json", Methods: []string{"GET"}, Auth: AuthUser, Service: "auth", Rewrite: "/.well-known/jwks.json"})
	e := newGW(b, gwConfig{routes: &table})
	e.g.ups.dial = func(string) (net.Conn, error) { return ln.Dial() }
	e.res.set("auth", "auth.invalid:80")
	return e
}

func benchHandle(b *testing.B, e *gw, path string, headers ...string) {
	var req fasthttp.Request
	req.SetRequestURI(path)
	req.Header.SetHost("127.0.0.1:8080")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Init(&req, remote, nil)
		e.g.handle(&ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

func BenchmarkPassThrough(b *testing.B) {
	e := benchGateway(b)
	benchHandle(b, e, "/.well-known/jwks.json")
}

func BenchmarkAuthenticated(b *testing.B) {
	e := benchGateway(b)
	tok := e.token(b, "cust-1", authn.RoleCustomer)
	benchHandle(b, e, "/bench/jwks.json", "Authorization: Bearer "+tok)
}
