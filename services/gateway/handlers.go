package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/registry"
	"github.com/souk/souk/platform/rpc"
	"github.com/souk/souk/platform/telemetry"
	"github.com/souk/souk/platform/workers"
	"github.com/souk/souk/services"
)

// deps are what the built-in handlers use besides the proxy.
type deps struct {
	rpc         *rpc.Client
	reg         *registry.Registry
	bus         *events.Bus
	pageTimeout time.Duration
	parts       *workers.Pool            // runs a composed page's calls
	breakers    func() map[string]string // the gateway's own, per service
}

// health answers GET /health: every service must have a registered
// (therefore ready and heartbeating) instance.
func (d *deps) health(ctx *fasthttp.RequestCtx, r *request) {
	type counts struct {
		Instances int `json:"instances"`
		Healthy   int `json:"healthy"`
	}
	out := struct {
		Status   string            `json:"status"`
		Services map[string]counts `json:"services"`
	}{Status: "healthy", Services: map[string]counts{}}
	for _, name := range append(append([]string(nil), services.All...), services.Gateway) {
		n := len(d.reg.Instances(name))
		out.Services[name] = counts{Instances: n, Healthy: n}
		if n == 0 {
			out.Status = "degraded"
		}
	}
	status := fasthttp.StatusOK
	if out.Status != "healthy" {
		status = fasthttp.StatusServiceUnavailable
	}
	writeJSON(ctx, status, out)
}

// productPage answers GET /api/v1/products/{id}: the catalog's product, its
// stock and its recommendations, fetched in parallel under one deadline. The
// product itself is required; a missing or slow part is left out, named in
// "degraded", and the page is still 200.
func (d *deps) productPage(ctx *fasthttp.RequestCtx, r *request) {
	id := strings.TrimPrefix(string(ctx.Path()), "/api/v1/products/")
	if id == "" || len(id) > 64 || strings.Contains(id, "/") {
		writeProblem(ctx, withID(fault.ToProblem(fault.NotFoundf("no such product")), r))
		return
	}
	c, cancel := context.WithTimeout(telemetry.WithRequestID(context.Background(), r.id), d.pageTimeout)
	defer cancel()
	esc := url.PathEscape(id)

	var (
		product map[string]any
		stock   struct {
			Available int64 `json:"available"`
		}
		recs struct {
			Items []struct {
				ProductID string  `json:"product_id"`
				Score     float64 `json:"score"`
			} `json:"items"`
		}
		productErr, stockErr, recsErr error
		wg                            sync.WaitGroup
	)
	// Two parts on other goroutines, the product on this one.
	wg.Add(2)
	d.parts.Go(func() {
		defer wg.Done()
		stockErr = d.rpc.Do(c, "inventory", rpc.Call{Method: "GET", Path: "/api/v1/inventory/" + esc, Idempotent: true}, &stock)
	})
	d.parts.Go(func() {
		defer wg.Done()
		recsErr = d.rpc.Do(c, "recommendation", rpc.Call{Method: "GET", Path: "/api/v1/recommendations/" + esc, Query: url.Values{"limit": {"4"}}, Idempotent: true}, &recs)
	})
	productErr = d.rpc.Do(c, "catalog", rpc.Call{Method: "GET", Path: "/api/v1/products/" + esc, Idempotent: true}, &product)
	wg.Wait()
	if productErr != nil {
		writeProblem(ctx, withID(fault.ToProblem(productErr), r))
		return
	}
	degraded := []string{}
	if stockErr == nil {
		product["stock"] = map[string]int64{"available": stock.Available}
	} else {
		product["stock"] = nil
		degraded = append(degraded, "stock")
	}
	if recsErr == nil && recs.Items != nil {
		product["recommendations"] = recs.Items
	} else {
		product["recommendations"] = []any{}
		if recsErr != nil {
			degraded = append(degraded, "recommendations")
		}
	}
	product["degraded"] = degraded
	r.upstream = "catalog+inventory+recommendation"
	writeJSON(ctx, fasthttp.StatusOK, product)
}

func withID(p fault.Problem, r *request) fault.Problem {
	p.RequestID = r.id
	return p
}

// InstanceStatus is one instance in the status page.
type InstanceStatus struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	PID      int    `json:"pid,omitempty"`
	Healthy  bool   `json:"healthy"`
	Restarts int    `json:"restarts,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// ServiceStatus is one service in the status page.
type ServiceStatus struct {
	Instances []InstanceStatus `json:"instances"`
	// Breaker is the state of the gateway's circuit breaker to the
	// service, when it has called it.
	Breaker string `json:"breaker,omitempty"`
}

// Status is the body of GET /api/v1/admin/status.
type Status struct {
	Services map[string]*ServiceStatus `json:"services"`
}

// status answers GET /api/v1/admin/status, probing every instance's
// /health/ready in parallel.
func (d *deps) status(ctx *fasthttp.RequestCtx, r *request) {
	all := d.reg.All()
	out := Status{Services: map[string]*ServiceStatus{}}
	for _, name := range append(append([]string(nil), services.All...), services.Gateway) {
		out.Services[name] = &ServiceStatus{Instances: []InstanceStatus{}}
	}
	restarts := d.launcherRestarts(r)
	client := &http.Client{Timeout: 2 * time.Second}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, list := range all {
		if name == "launcher" {
			continue
		}
		if out.Services[name] == nil {
			out.Services[name] = &ServiceStatus{Instances: []InstanceStatus{}}
		}
		for _, in := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := InstanceStatus{ID: in.ID, Addr: in.Addr, PID: in.PID, Restarts: restarts[in.ID]}
				resp, err := client.Get("http://" + in.Addr + "/health/ready")
				if err == nil {
					st.Healthy = resp.StatusCode == http.StatusOK
					if !st.Healthy {
						st.Reason = resp.Status
					}
					resp.Body.Close()
				} else {
					st.Reason = "unreachable"
				}
				mu.Lock()
				out.Services[name].Instances = append(out.Services[name].Instances, st)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for name, st := range d.breakers() {
		if s := out.Services[name]; s != nil {
			s.Breaker = st
		}
	}
	for name, st := range d.rpc.Breakers() {
		if s := out.Services[name]; s != nil && s.Breaker == "" {
			s.Breaker = st
		}
	}
	for _, s := range out.Services {
		sort.Slice(s.Instances, func(i, j int) bool { return s.Instances[i].ID < s.Instances[j].ID })
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
}

// launcherRestarts asks the launcher, when there is one, how often each
// instance restarted.
func (d *deps) launcherRestarts(r *request) map[string]int {
	out := map[string]int{}
	if len(d.reg.Instances("launcher")) == 0 {
		return out
	}
	c, cancel := context.WithTimeout(telemetry.WithRequestID(context.Background(), r.id), time.Second)
	defer cancel()
	var body struct {
		Instances []struct {
			ID       string `json:"id"`
			Restarts int    `json:"restarts"`
		} `json:"instances"`
	}
	if err := d.rpc.Do(c, "launcher", rpc.Call{Method: "GET", Path: "/instances", Idempotent: true}, &body); err != nil {
		return out
	}
	for _, in := range body.Instances {
		out[in.ID] = in.Restarts
	}
	return out
}

// kill answers POST /api/v1/admin/instances/{id}/{kill,stop,start} through
// the launcher: the chaos tool's and the tests' way in.
func (d *deps) kill(ctx *fasthttp.RequestCtx, r *request) {
	rest := strings.TrimPrefix(string(ctx.Path()), "/api/v1/admin/instances/")
	id, action, ok := strings.Cut(rest, "/")
	if !ok || (action != "kill" && action != "stop" && action != "start") || id == "" || len(id) > 64 {
		writeProblem(ctx, withID(fault.ToProblem(fault.NotFoundf("no such route")), r))
		return
	}
	if len(d.reg.Instances("launcher")) == 0 {
		writeProblem(ctx, withID(fault.ToProblem(fault.New(fault.Unavailable, "no_launcher", "instances can be killed only under souk up; in a cluster, delete the pod")), r))
		return
	}
	c, cancel := context.WithTimeout(telemetry.WithRequestID(context.Background(), r.id), 2*time.Second)
	defer cancel()
	var out json.RawMessage
	if err := d.rpc.Do(c, "launcher", rpc.Call{Method: "POST", Path: "/instances/" + url.PathEscape(id) + "/" + action}, &out); err != nil {
		writeProblem(ctx, withID(fault.ToProblem(err), r))
		return
	}
	r.upstream = "launcher"
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
}

// deadLetters answers GET /api/v1/admin/dlq.
func (d *deps) deadLetters(ctx *fasthttp.RequestCtx, r *request) {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := d.bus.DeadLetters(c, 1000)
	if err != nil {
		writeProblem(ctx, withID(fault.ToProblem(err), r))
		return
	}
	if list == nil {
		list = []events.DeadLetter{}
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"items": list})
}

// redrive answers POST /api/v1/admin/dlq/redrive {"seq": N} (0 or absent:
// all).
func (d *deps) redrive(ctx *fasthttp.RequestCtx, r *request) {
	var body struct {
		Seq uint64 `json:"seq"`
	}
	if len(ctx.PostBody()) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(ctx.PostBody())))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeProblem(ctx, withID(fault.ToProblem(fault.Invalidf("the body must be {\"seq\": N}")), r))
			return
		}
	}
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 1
	var err error
	if body.Seq == 0 {
		n, err = d.bus.RedriveAll(c)
	} else {
		err = d.bus.Redrive(c, body.Seq)
	}
	if err != nil {
		writeProblem(ctx, withID(fault.ToProblem(err), r))
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]int{"redriven": n})
}
