package gateway

import (
	"errors"
	"strings"
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
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	req.Header.Set(telemetry.HeaderRequestID, r.id)
	req.Header.Set("X-Forwarded-For", r.ip.String())
	req.Header.Set("X-Forwarded-Proto", "http")
	// Forward the normalised path, so "/api/v1/orders/../../internal" can
	// never reach a service as written.
	if r.route.Rewrite != "" {
		req.URI().SetPath(r.route.Rewrite + strings.TrimPrefix(string(ctx.Path()), r.route.Prefix))
	} else {
		req.URI().SetPathBytes(ctx.Path())
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
	for _, h := range hopHeaders {
		ctx.Response.Header.Del(h)
	}
}

// forwardURL sends the request to an outside upstream (a legacy system).
func (g *Gateway) forwardURL(ctx *fasthttp.RequestCtx, r *request, t *Target) error {
	r.upstream = t.host
	ctx.Request.Header.SetHost(t.host)
	err := g.ups.client(t.host).DoDeadline(&ctx.Request, &ctx.Response, deadlineFor(r))
	if err != nil {
		return upstreamError(t.host, err)
	}
	return nil
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
		err = g.ups.client(ep.Addr).DoDeadline(&ctx.Request, &ctx.Response, deadline)
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

// upstreamError maps a failed call to the problem the client sees.
func upstreamError(name string, err error) error {
	if errors.Is(err, fasthttp.ErrTimeout) {
		return fault.Wrap(err, fault.Timeout, "timeout", name+" did not answer in time")
	}
	return &fault.Error{Kind: fault.Unavailable, Code: "unavailable", Message: name + " is unavailable", RetryAfter: time.Second, Err: err}
}
