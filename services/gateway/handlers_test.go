package gateway

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fasthttp"

	"github.com/souk/souk/platform/rpc"
)

// pageGW is a gateway whose product page calls the test's catalog,
// inventory and recommendation services.
func pageGW(t *testing.T, timeout time.Duration) (e *gw, catalog, inventory, recs *testUpstream) {
	res := &fakeResolver{}
	d := &deps{rpc: rpc.New(rpc.Options{Resolver: res, Retries: -1}), pageTimeout: timeout}
	e = newGW(t, gwConfig{resolver: res, handlers: map[string]func(*fasthttp.RequestCtx, *request){"product_page": d.productPage}})
	catalog, inventory, recs = newUpstream(t), newUpstream(t), newUpstream(t)
	catalog.setHandler(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/api/v1/products/")
		if id == "missing" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"type":"x","title":"Not found","status":404,"code":"product_not_found","detail":"no such product"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "name": "Kettle", "price": 2500})
	})
	inventory.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"product_id":"p1","available":7}`))
	})
	recs.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[{"product_id":"p2","score":0.5}]}`))
	})
	res.set("catalog", catalog.addr())
	res.set("inventory", inventory.addr())
	res.set("recommendation", recs.addr())
	return e, catalog, inventory, recs
}

func TestProductPage(t *testing.T) {
	e, catalog, inventory, recs := pageGW(t, 300*time.Millisecond)
	got := e.do(t, "GET", "/api/v1/products/p1", "", "X-Request-Id: page-1")
	if got.status != 200 {
		t.Fatalf("page = %d %s", got.status, got.body)
	}
	var page map[string]any
	if err := json.Unmarshal(got.body, &page); err != nil {
		t.Fatal(err)
	}
	if page["name"] != "Kettle" || page["stock"].(map[string]any)["available"] != 7.0 || len(page["recommendations"].([]any)) != 1 || len(page["degraded"].([]any)) != 0 {
		t.Errorf("page = %v", page)
	}
	for name, up := range map[string]*testUpstream{"catalog": catalog, "inventory": inventory, "recommendation": recs} {
		reqs := up.requests()
		if len(reqs) != 1 || reqs[0].Header.Get("X-Request-Id") != "page-1" {
			t.Errorf("%s saw %d requests (%v), want one carrying the request id", name, len(reqs), reqs)
		}
	}
	if q := recs.requests()[0].RequestURI; q != "/api/v1/recommendations/p1?limit=4" {
		t.Errorf("recommendation call = %q", q)
	}
	lines := e.accessLines(t)
	if u := lines[len(lines)-1]["upstream"]; u != "catalog+inventory+recommendation" {
		t.Errorf("access log upstream = %v", u)
	}

	// A slow part is left out, named, and the page still comes in time.
	recs.setHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	e.res.set("inventory") // and stock has no instance at all
	start := time.Now()
	got = e.do(t, "GET", "/api/v1/products/p1", "")
	took := time.Since(start)
	if got.status != 200 {
		t.Fatalf("degraded page = %d %s", got.status, got.body)
	}
	page = nil
	_ = json.Unmarshal(got.body, &page)
	if page["stock"] != nil || len(page["recommendations"].([]any)) != 0 {
		t.Errorf("degraded page = %v, want stock null and no recommendations", page)
	}
	if d, _ := json.Marshal(page["degraded"]); string(d) != `["stock","recommendations"]` {
		t.Errorf("degraded = %s, want [\"stock\",\"recommendations\"]", d)
	}
	if took > time.Second {
		t.Errorf("the degraded page took %s, want about the 300ms page deadline", took)
	}

	// The product itself is required.
	wantProblem(t, e.do(t, "GET", "/api/v1/products/missing", ""), http.StatusNotFound, "product_not_found")
	for _, p := range []string{"/api/v1/products/a/b", "/api/v1/products/" + strings.Repeat("x", 65)} {
		before := catalog.hits()
		wantProblem(t, e.do(t, "GET", p, ""), http.StatusNotFound, "not_found")
		if catalog.hits() != before {
			t.Errorf("GET %s called the catalog", p)
		}
	}
	// An id is escaped on its way to the services.
	e.do(t, "GET", "/api/v1/products/a%20b%3Fx", "")
	reqs := catalog.requests()
	if got := reqs[len(reqs)-1]; got.Path != "/api/v1/products/a b?x" {
		t.Errorf("catalog saw %q (path %q)", got.RequestURI, got.Path)
	}
}

// The admin handlers refuse bad requests before they touch the launcher or
// the broker (both nil here).
func TestAdminHandlersRefuseBadRequests(t *testing.T) {
	d := &deps{}
	e := newGW(t, gwConfig{handlers: map[string]func(*fasthttp.RequestCtx, *request){
		"admin_kill": d.kill, "admin_dlq_redrive": d.redrive,
	}})
	admin := "Authorization: Bearer " + e.token(t, "admin-1", "admin")
	for _, p := range []string{"/api/v1/admin/instances/order-1/explode", "/api/v1/admin/instances/order-1", "/api/v1/admin/instances//kill", "/api/v1/admin/instances/" + strings.Repeat("x", 65) + "/kill"} {
		wantProblem(t, e.do(t, "POST", p, "", admin), http.StatusNotFound, "not_found")
	}
	for _, body := range []string{`{"seq":"one"}`, `{"seq":1,"extra":true}`, `[1]`, `{`} {
		wantProblem(t, e.do(t, "POST", "/api/v1/admin/dlq/redrive", body, admin), http.StatusBadRequest, "invalid")
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	c, err := ConfigFromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	prefixes := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	if diff := cmp.Diff(Config{Limits: DefaultLimits(), PageTimeout: 800 * time.Millisecond}, c, prefixes); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	c, err = ConfigFromEnv(env(map[string]string{
		"SOUK_GATEWAY_ROUTES": "/etc/routes.yaml", "SOUK_GATEWAY_RATE": "0", "SOUK_GATEWAY_BURST": "7",
		"SOUK_GATEWAY_ANON_RATE": "2.5", "SOUK_GATEWAY_ANON_BURST": "9", "SOUK_GATEWAY_LOGIN_ACCOUNT": "3",
		"SOUK_GATEWAY_LOGIN_IP": "10", "SOUK_GATEWAY_MAX_INFLIGHT": "64", "SOUK_GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32,::1",
		"SOUK_GATEWAY_PAGE_TIMEOUT": "1.5s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{RoutesFile: "/etc/routes.yaml", PageTimeout: 1500 * time.Millisecond, Limits: Limits{
		ClientRate: 0, ClientBurst: 7, AnonymousRate: 2.5, AnonymousBurst: 9, LoginPerAccount: 3, LoginPerIP: 10, MaxInflight: 64,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
	}}
	if diff := cmp.Diff(want, c, prefixes); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	for k, v := range map[string]string{
		"SOUK_GATEWAY_RATE": "-1", "SOUK_GATEWAY_ANON_RATE": "fast", "SOUK_GATEWAY_BURST": "-2", "SOUK_GATEWAY_LOGIN_IP": "x",
		"SOUK_GATEWAY_MAX_INFLIGHT": "0", "SOUK_GATEWAY_TRUSTED_PROXIES": "not-a-cidr", "SOUK_GATEWAY_PAGE_TIMEOUT": "0s",
	} {
		if _, err := ConfigFromEnv(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: error %v, want one naming the variable", k, v, err)
		}
	}
}
