package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// fastTransport sends internal calls with fasthttp's pooled HostClients
// instead of net/http's Transport. net/http hands every request to a
// connection's write and read goroutines; with four internal calls per
// checkout those hand-offs, their buffers and the Request/Response
// allocations were a fifth of the order service's CPU (pprof). fasthttp
// writes and reads on the calling goroutine with reused buffers.
//
// fasthttp is told never to retry by itself (the client's retry policy
// decides, and only for idempotent calls) and every call has a deadline:
// the attempt's, bounded by the caller's context. A context cancelled
// without a deadline is noticed only at that deadline.
type fastTransport struct {
	clients sync.Map // addr → *fasthttp.HostClient
}

func (t *fastTransport) client(addr string) *fasthttp.HostClient {
	if c, ok := t.clients.Load(addr); ok {
		return c.(*fasthttp.HostClient)
	}
	c, _ := t.clients.LoadOrStore(addr, &fasthttp.HostClient{
		Addr:                      addr,
		MaxConns:                  512,
		MaxIdleConnDuration:       30 * time.Second,
		MaxConnWaitTimeout:        time.Second,
		MaxIdemponentCallAttempts: 1,
		MaxResponseBodySize:       MaxResponseBytes,
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			return fasthttp.DialTimeout(addr, min(timeout, time.Second))
		},
	})
	return c.(*fasthttp.HostClient)
}

func (t *fastTransport) closeIdle() {
	t.clients.Range(func(_, c any) bool {
		c.(*fasthttp.HostClient).CloseIdleConnections()
		return true
	})
}

// sendFast is send over fastTransport.
func (a *attempt) sendFast(ctx context.Context, addr string) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(a.method)
	req.SetRequestURI(a.target)
	req.Header.SetHost(addr)
	for k, vs := range a.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if a.body != nil {
		req.SetBodyRaw(a.body)
	}
	deadline := time.Now().Add(a.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := a.c.fast.client(addr).DoDeadline(req, resp, deadline); err != nil {
		return fastError(ctx, err)
	}
	body := resp.Body()
	status := resp.StatusCode()
	if status >= 200 && status < 300 {
		if a.out != nil && len(body) > 0 {
			if err := json.Unmarshal(body, a.out); err != nil {
				return fmt.Errorf("decode response: %w", err)
			}
		}
		return nil
	}
	return newStatusError(a.svc.name, status, body)
}

// fastError turns a fasthttp failure into what the policies expect: a
// transportError for connection trouble (dial errors stay *net.OpError, so
// neverSent sees them; a connection closed before the answer counts as a
// reset), and the context's error at the deadline.
func fastError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fmt.Errorf("response over %d bytes", MaxResponseBytes)
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout) && ctx.Err() != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &transportError{err: fmt.Errorf("%w (%w)", err, context.DeadlineExceeded)}
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return &transportError{err: fmt.Errorf("%w (%w)", err, syscall.ECONNRESET)}
	}
	return &transportError{err: err}
}
