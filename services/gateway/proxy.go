package gateway

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/souk/souk/platform/balancer"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/telemetry"
)

// hopHeaders are meaningful for one connection only and never forwarded
// (RFC 9110 section 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Upgrade"}

// proxy forwards the request to the route's target and copies the answer
// back.
func (g *Gateway) proxy(ctx *fasthttp.RequestCtx, r *request) {
	req := &ctx.Request
	stripHopHeaders(&req.Header, requestHasHop(&req.Header))
	req.Header.Set(telemetry.HeaderRequestID, r.id)
	var ip [64]byte
	req.Header.SetBytesV("X-Forwarded-For", r.ip.AppendTo(ip[:0]))
	req.Header.Set("X-Forwarded-Proto", "http")
	// Forward the normalised path, so "/api/v1/orders/../../internal" can
	// never reach a service as written. It is the decoded path the route
	// matched, so it is escaped again: the service decodes it once and
	// sees what the gateway routed on ("%252e%252e" stays "%2e%2e", never
	// "..", and a decoded "?", "#" or space stays in the path).
	if r.route.Rewrite != "" {
		path := r.route.Rewrite + strings.TrimPrefix(string(ctx.Path()), r.route.Prefix)
		// A rewrite to "/" on prefix "/a/" would send "/a/internal/x" to
		// "/internal/x": only admin routes reach /internal.
		if r.route.Auth != AuthAdmin && internalPath(path) {
			g.fail(ctx, r, errNotFound)
			return
		}
		setEscapedPath(req.URI(), []byte(path))
	} else {
		setEscapedPath(req.URI(), ctx.Path())
	}

	target := r.route.pick()
	var err error
	if target.URL != "" {
		err = g.forwardURL(ctx, r, target)
	} else {
		err = g.forwardService(ctx, r, target.Service)
	}
	if err != nil {
		g.fail(ctx, r, err)
		return
	}
	stripHopHeaders(&ctx.Response.Header, responseHasHop(&ctx.Response.Header))
}

// header is what stripHopHeaders needs of fasthttp's request and response
// headers.
type header interface {
	Peek(key string) []byte
	Del(key string)
}

// stripHopHeaders removes the hop-by-hop headers from h: the fixed ones and
// those its Connection header names (RFC 9110 section 7.6.1). hasHop says
// whether h has any (requestHasHop, responseHasHop): most requests and
// answers have none, and one pass over the headers is cheaper than a
// search per name (each Del scans them all).
func stripHopHeaders(h header, hasHop bool) {
	if !hasHop {
		return
	}
	if c := h.Peek("Connection"); len(c) > 0 {
		for _, name := range strings.Split(string(c), ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// requestHasHop reports whether h has a Connection header or another of
// hopHeaders. It takes the concrete type, so that ranging over the
// headers allocates nothing.
func requestHasHop(h *fasthttp.RequestHeader) bool {
	if len(h.Peek("Connection")) > 0 {
		return true
	}
	for k := range h.All() {
		if isHopHeader(k) {
			return true
		}
	}
	return false
}

// responseHasHop is requestHasHop for a response. A copy, not a generic
// over both header types: both are pointers, so Go compiles one shared
// instance that calls All through a dictionary, and its iterator escapes
// (BenchmarkPassThrough: 11 allocations per request instead of 3).
func responseHasHop(h *fasthttp.ResponseHeader) bool {
	if len(h.Peek("Connection")) > 0 {
		return true
	}
	for k := range h.All() {
		if isHopHeader(k) {
			return true
		}
	}
	return false
}

// isHopHeader reports whether name is one of hopHeaders, in any case.
func isHopHeader(name []byte) bool {
	for _, hop := range hopHeaders {
		if len(name) != len(hop) {
			continue
		}
		i := 0
		for i < len(name) && name[i]|0x20 == hop[i]|0x20 {
			i++
		}
		if i == len(name) {
			return true
		}
	}
	return false
}

// forwardURL sends the request to an outside upstream (a legacy system).
func (g *Gateway) forwardURL(ctx *fasthttp.RequestCtx, r *request, t *Target) error {
	r.upstream = t.host
	ctx.Request.Header.SetHost(t.host)
	idempotent := ctx.IsGet() || ctx.IsHead() || ctx.IsPut() || ctx.IsDelete() || ctx.IsOptions()
	deadline := deadlineFor(r)
	for attempt := 0; ; attempt++ {
		err := connError(g.ups.client(t.host).DoDeadline(&ctx.Request, &ctx.Response, deadline))
		if err == nil {
			return nil
		}
		// An outside server may close idle keep-alive connections sooner
		// than the gateway drops them: the first request on such a
		// connection fails at once and is safe to send again.
		retry := attempt == 0 && time.Now().Before(deadline) && (isDial(err) || (idempotent && balancer.ConnectionFailure(err)))
		if !retry {
			return upstreamError(t.host, err)
		}
		ctx.Response.Reset()
	}
}

// forwardService sends the request to an instance of service, retrying once
// on another instance when that is safe.
func (g *Gateway) forwardService(ctx *fasthttp.RequestCtx, r *request, service string) error {
	up := g.ups.service(service)
	if !up.breaker.TryAcquirePermit() {
		return &fault.Error{Kind: fault.Unavailable, Code: "unavailable", Message: service + " is unavailable", RetryAfter: up.breaker.RemainingDelay()}
	}
	idempotent := ctx.IsGet() || ctx.IsHead() || ctx.IsPut() || ctx.IsDelete() || ctx.IsOptions()
	exclude := ""
	deadline := deadlineFor(r)
	for attempt := 0; ; attempt++ {
		ep, err := up.bal.Pick(exclude)
		if err != nil {
			up.breaker.RecordFailure()
			return &fault.Error{Kind: fault.Unavailable, Code: "unavailable", Message: service + " is unavailable", RetryAfter: time.Second}
		}
		r.upstream = ep.ID
		start := time.Now()
		err = connError(g.ups.client(ep.Addr).DoDeadline(&ctx.Request, &ctx.Response, deadline))
		ep.Done(start, err)
		if err == nil {
			if ctx.Response.StatusCode() >= 500 {
				up.breaker.RecordFailure()
			} else {
				up.breaker.RecordSuccess()
			}
			return nil
		}
		up.breaker.RecordFailure()
		retry := attempt == 0 && time.Now().Before(deadline) && (isDial(err) || (idempotent && balancer.ConnectionFailure(err)))
		if !retry {
			return upstreamError(service, err)
		}
		exclude = ep.ID
		ctx.Response.Reset()
	}
}

// connError adds ECONNRESET to fasthttp's ErrConnectionClosed, which is
// all fasthttp reports when the upstream reset or closed the connection
// before answering (an instance killed mid-request): for the balancer it is
// a connection failure that ejects the endpoint (not a fast answer that
// would draw more traffic), and an idempotent request is sent again.
func connError(err error) error {
	if errors.Is(err, fasthttp.ErrConnectionClosed) {
		return fmt.Errorf("%w (%w)", err, syscall.ECONNRESET)
	}
	return err
}

// upstreamError maps a failed call to the problem the client sees.
func upstreamError(name string, err error) error {
	if errors.Is(err, fasthttp.ErrTimeout) {
		return fault.Wrap(err, fault.Timeout, "timeout", name+" did not answer in time")
	}
	return &fault.Error{Kind: fault.Unavailable, Code: "unavailable", Message: name + " is unavailable", RetryAfter: time.Second, Err: err}
}

// setEscapedPath sets the path uri sends (its original path: the upstream
// clients do not normalise) to path escaped as net/url escapes a path.
func setEscapedPath(uri *fasthttp.URI, path []byte) {
	n := 0
	for _, c := range path {
		if shouldEscapePath(c) {
			n++
		}
	}
	if n == 0 {
		uri.SetPathBytes(path)
		return
	}
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(path)+2*n)
	for _, c := range path {
		if shouldEscapePath(c) {
			out = append(out, '%', hex[c>>4], hex[c&0xf])
		} else {
			out = append(out, c)
		}
	}
	uri.SetPathBytes(out)
}

// shouldEscapePath reports whether c is escaped in a path: all but the
// unreserved characters and $&+,/:;=@ (net/url's rule for paths).
func shouldEscapePath(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return false
	}
	switch c {
	case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
		return false
	}
	return true
}
