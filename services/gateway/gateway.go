// Package gateway is Souk's single entry point: it routes requests to
// services by a route table (which can also split traffic with an outside
// system, the strangler fig), verifies user tokens locally from a cached
// JWKS, applies per-client rate limits and a cap on requests in flight,
// composes product pages from three services in parallel, and writes one
// access log line per request.
//
// The proxy path is the hottest code in the system, so it runs on fasthttp
// (server and pooled HostClients) rather than net/http: on this project's
// 2-core machine a net/http reverse proxy reached 0.17× of a direct call's
// throughput where nginx reached 0.57×, and fasthttp closes most of that gap
// (docs/benchmarks.md). fasthttp's client would retry idempotent requests
// five times on its own and has no deadline unless asked: here each call
// has a deadline from its route, and retries are the gateway's decision —
// once, on another instance, only for idempotent methods or when the
// connection was never established.
//
// Settings (environment): SOUK_GATEWAY_ROUTES (a routes file, YAML or
// JSON, reloaded when it changes; default the built-in table),
// SOUK_GATEWAY_PAGE_TIMEOUT (product page deadline, default 800ms), and the
// limits of Limits.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/telemetry"
)

// Gateway serves the public API.
type Gateway struct {
	routes   atomic.Pointer[RouteTable]
	ups      *upstreams
	verifier *authn.Verifier
	limits   Limits
	log      *slog.Logger
	access   *accessLog
	metrics  *metrics
	handlers map[string]func(*fasthttp.RequestCtx, *request)
	serveOps func(*fasthttp.RequestCtx) // /health/live, /health/ready, /metrics

	inflight  atomic.Int64
	clients   *limiterSet
	anonymous *limiterSet
	loginIP   *limiterSet
	loginAcct *limiterSet
	// logins counts login attempts across every gateway instance; the two
	// sets above are the fallback when it cannot be reached (and the
	// limits when it is nil).
	logins         *loginCounter
	loginFallbacks atomic.Int64
	loginWarned    atomic.Int64 // unix seconds of the last fallback warning
}

// request is what the gateway learns about a request on its way through.
type request struct {
	id        string
	route     *Route
	principal *authn.Principal
	ip        netip.Addr
	upstream  string
	start     time.Time
}

// shed, deadline and other fixed problems.
var (
	errShed     = &fault.Error{Kind: fault.Unavailable, Code: "overloaded", Message: "the gateway is at capacity; retry shortly", RetryAfter: time.Second}
	errNotFound = fault.New(fault.NotFound, "", "no such route")
	errMethod   = fault.New(fault.MethodNotAllowed, "method_not_allowed", "this method is not allowed on this path")
)

// handle is the gateway's fasthttp handler.
func (g *Gateway) handle(ctx *fasthttp.RequestCtx) {
	r := request{start: time.Now()}
	if n := g.inflight.Add(1); n > g.limits.MaxInflight {
		g.inflight.Add(-1)
		r.id = telemetry.NewRequestID()
		g.fail(ctx, &r, errShed)
		g.finish(ctx, &r)
		return
	}
	defer g.inflight.Add(-1)

	r.id = string(ctx.Request.Header.Peek(telemetry.HeaderRequestID))
	if !telemetry.ValidRequestID(r.id) {
		r.id = telemetry.NewRequestID()
	}
	r.ip = clientIP(peerAddr(ctx), string(ctx.Request.Header.Peek("X-Forwarded-For")), g.limits.TrustedProxies)
	defer g.finish(ctx, &r)

	method := string(ctx.Method())
	path := string(ctx.Path())
	table := g.routes.Load()
	route, pathMatched := table.match(method, path)
	if route == nil {
		switch {
		case path == "/metrics" && method == "GET" && g.metricsAllowed(r.ip):
			g.serveOps(ctx)
			return
		case (path == "/health/live" || path == "/health/ready") && method == "GET":
			g.serveOps(ctx)
			return
		case pathMatched:
			g.fail(ctx, &r, errMethod)
			ctx.Response.Header.Set("Allow", strings.Join(table.allowed(path), ", "))
			return
		}
		g.fail(ctx, &r, errNotFound)
		return
	}
	r.route = route

	if err := g.authenticate(ctx, &r); err != nil {
		g.fail(ctx, &r, err)
		return
	}
	if err := g.limit(ctx, &r); err != nil {
		g.fail(ctx, &r, err)
		return
	}
	if route.Handler != "" {
		g.handlers[route.Handler](ctx, &r)
		return
	}
	g.proxy(ctx, &r)
}

func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.IPv4Unspecified()
}

// metricsAllowed reports whether the client may scrape /metrics: loopback,
// or an address in Limits.MetricsFrom (the cluster's Prometheus). The
// client is the address behind a trusted proxy, so the internet never
// passes as local.
func (g *Gateway) metricsAllowed(client netip.Addr) bool {
	return client.IsLoopback() || isTrusted(client, g.limits.MetricsFrom)
}

// authenticate verifies the bearer token when the route needs a user, and
// the admin role when it needs one.
func (g *Gateway) authenticate(ctx *fasthttp.RequestCtx, r *request) error {
	if r.route.Auth == AuthPublic {
		return nil
	}
	h := ctx.Request.Header.Peek("Authorization")
	token, ok := authn.BearerToken(string(h))
	if !ok {
		return fault.New(fault.Unauthorized, "unauthorized", "a bearer token is required")
	}
	p, err := g.verifier.Verify(ctx, token)
	if err != nil {
		return err
	}
	if p.IsService() {
		return fault.New(fault.Forbidden, "forbidden", "service tokens are not accepted at the gateway")
	}
	r.principal = p
	if r.route.Auth == AuthAdmin && !p.IsAdmin() {
		return fault.New(fault.Forbidden, "forbidden", "admin only")
	}
	return nil
}

// limit applies the rate limits: per user once known, else per address,
// and the login limits on the login route.
func (g *Gateway) limit(ctx *fasthttp.RequestCtx, r *request) error {
	now := r.start
	ok, wait := true, time.Duration(0)
	// The keys are built only for a set that limits: building one
	// allocates.
	if r.principal != nil {
		if g.clients.limits() {
			ok, wait = g.clients.allow(r.principal.Subject, now)
		}
	} else if g.anonymous.limits() {
		ok, wait = g.anonymous.allow(r.ip.String(), now)
	}
	if ok && r.route.Login {
		if ok, wait = g.loginAllow(ctx, "ip", r.ip.String(), g.limits.LoginPerIP, g.loginIP, now); ok {
			if email := loginEmail(ctx.PostBody()); email != "" {
				ok, wait = g.loginAllow(ctx, "account", email, g.limits.LoginPerAccount, g.loginAcct, now)
			}
		}
	}
	if !ok {
		return &fault.Error{Kind: fault.TooMany, Code: "rate_limited", Message: "too many requests; slow down", RetryAfter: wait}
	}
	return nil
}

// loginCountTimeout bounds the shared login counter's round trips for one
// attempt; past it this instance's own limiter decides.
const loginCountTimeout = 500 * time.Millisecond

// loginAllow applies a login limit of limit attempts a minute to key: the
// count shared by every gateway instance, or local when that cannot be
// reached (then each instance limits on its own, as if alone).
func (g *Gateway) loginAllow(ctx context.Context, kind, key string, limit int, local *limiterSet, now time.Time) (bool, time.Duration) {
	if g.logins != nil && limit > 0 {
		cctx, cancel := context.WithTimeout(ctx, loginCountTimeout)
		ok, wait, err := g.logins.allow(cctx, kind, key, limit, now)
		cancel()
		if err == nil {
			return ok, wait
		}
		g.loginFallbacks.Add(1)
		if last := g.loginWarned.Load(); now.Unix()-last >= 10 && g.loginWarned.CompareAndSwap(last, now.Unix()) {
			g.log.Warn("login limits: the shared counter is unavailable; this instance limits on its own", "err", err, "fallbacks", g.loginFallbacks.Load())
		}
	}
	return local.allow(key, now)
}

// loginEmail extracts the account a login attempt is for, normalised as
// the auth service stores it.
func loginEmail(body []byte) string {
	var v struct {
		Email string `json:"email"`
	}
	if len(body) > 4096 || json.Unmarshal(body, &v) != nil {
		return ""
	}
	return string(bytes.ToLower(bytes.TrimSpace([]byte(v.Email))))
}

// fail writes err as problem+json.
func (g *Gateway) fail(ctx *fasthttp.RequestCtx, r *request, err error) {
	p := fault.ToProblem(err)
	p.RequestID = r.id
	p.Instance = string(ctx.Path())
	if p.Status >= 500 && fault.KindOf(err) == fault.Internal {
		g.log.Error("request failed", "request_id", r.id, "path", p.Instance, "err", err)
	}
	writeProblem(ctx, p)
}

func writeProblem(ctx *fasthttp.RequestCtx, p fault.Problem) {
	body, _ := json.Marshal(p)
	ctx.Response.Reset()
	ctx.SetStatusCode(p.Status)
	ctx.SetContentType(fault.ContentType)
	if p.RetryAfter > 0 {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	ctx.SetBody(body)
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(ctx, fault.ToProblem(err))
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// finish adds the headers every response carries and logs the request.
func (g *Gateway) finish(ctx *fasthttp.RequestCtx, r *request) {
	h := &ctx.Response.Header
	h.Set(telemetry.HeaderRequestID, r.id)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if len(h.Peek("Cache-Control")) == 0 {
		h.Set("Cache-Control", "no-store")
	}
	now := time.Now()
	elapsed := now.Sub(r.start)
	routeName := "unmatched"
	if r.route != nil {
		routeName = r.route.name
	}
	status := ctx.Response.StatusCode()
	g.metrics.observe(routeName, status, elapsed)
	user := ""
	if r.principal != nil {
		user = r.principal.Subject
	}
	g.access.log(now, ctx.Method(), routeName, ctx.Path(), status, elapsed, user, r.id, r.upstream, r.ip)
}

// deadlineFor returns the deadline of a call on r's route.
func deadlineFor(r *request) time.Time { return r.start.Add(time.Duration(r.route.Timeout)) }

// isDial reports whether err happened before the request left: the
// connection was never established, so resending is safe for any method.
func isDial(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, fasthttp.ErrDialTimeout) || errors.Is(err, fasthttp.ErrNoFreeConns)
}
