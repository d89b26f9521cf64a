package gateway

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPrepareRejects(t *testing.T) {
	tests := []struct {
		name    string
		route   Route
		wantErr string
	}{
		{"path and prefix", Route{Path: "/a", Prefix: "/b", Service: "s"}, "not both"},
		{"neither path nor prefix", Route{Service: "s"}, "set path or prefix"},
		{"relative path", Route{Path: "api", Service: "s"}, "start with /"},
		{"relative prefix", Route{Prefix: "api/", Service: "s"}, "start with /"},
		{"internal path", Route{Path: "/internal/audit", Service: "s"}, "/internal"},
		{"internal prefix", Route{Prefix: "/internal/", Service: "s"}, "/internal"},
		{"internal prefix without slash", Route{Prefix: "/internal", Service: "s"}, "/internal"},
		{"no target", Route{Path: "/a"}, "exactly one"},
		{"service and handler", Route{Path: "/a", Service: "s", Handler: "health"}, "exactly one"},
		{"service and targets", Route{Path: "/a", Service: "s", Targets: []Target{{Service: "t"}}}, "exactly one"},
		{"unknown handler", Route{Path: "/a", Handler: "shell"}, `unknown handler "shell"`},
		{"bad auth", Route{Path: "/a", Service: "s", Auth: "root"}, `auth "root"`},
		{"auth is case sensitive", Route{Path: "/a", Service: "s", Auth: "Admin"}, `auth "Admin"`},
		{"rewrite on an exact path", Route{Path: "/a", Auth: AuthAdmin, Service: "s", Rewrite: "/internal/a"}, "rewrite"},
		{"rewrite to internal for users", Route{Prefix: "/a/", Auth: AuthUser, Service: "s", Rewrite: "/internal/a/"}, "only a route with auth admin"},
		{"rewrite to internal public", Route{Prefix: "/a/", Service: "s", Rewrite: "/internal/a/"}, "only a route with auth admin"},
		{"rewrite to internal without slash", Route{Prefix: "/a/", Service: "s", Rewrite: "/internal"}, "only a route with auth admin"},
		{"rewrite to internal via double slash", Route{Prefix: "/a/", Auth: AuthUser, Service: "s", Rewrite: "//internal/a"}, "only a route with auth admin"},
		{"rewrite to a relative path", Route{Prefix: "/a/", Auth: AuthAdmin, Service: "s", Rewrite: "internal/a/"}, "rewrite"},
		{"target with service and url", Route{Path: "/a", Targets: []Target{{Service: "s", URL: "http://legacy:80"}}}, "set service or url"},
		{"empty target", Route{Path: "/a", Targets: []Target{{Weight: 1}}}, "set service or url"},
		{"https url", Route{Path: "/a", Targets: []Target{{URL: "https://legacy:443"}}}, "want http://host:port"},
		{"url without host", Route{Path: "/a", Targets: []Target{{URL: "http:///x"}}}, "want http://host:port"},
		{"url with a path", Route{Path: "/a", Targets: []Target{{URL: "http://legacy:80/base"}}}, "want http://host:port"},
		{"url that does not parse", Route{Path: "/a", Targets: []Target{{URL: "http://[::1"}}}, "want http://host:port"},
		{"url without scheme", Route{Path: "/a", Targets: []Target{{URL: "legacy:80"}}}, "want http://host:port"},
		{"negative weight", Route{Path: "/a", Targets: []Target{{Service: "s", Weight: 2}, {Service: "t", Weight: -1}}}, "negative weight"},
		{"weights sum to zero", Route{Path: "/a", Targets: []Target{{Service: "s"}, {Service: "t"}}}, "sum to 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := RouteTable{Routes: []Route{{Path: "/ok", Service: "fine"}, tt.route}}
			err := table.prepare()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("prepare = %v, want an error containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "routes[1]") {
				t.Errorf("error %q does not name the route (routes[1])", err)
			}
		})
	}
	if err := (&RouteTable{}).prepare(); err == nil {
		t.Error("an empty table was accepted")
	}
}

func TestPrepareFillsDefaults(t *testing.T) {
	table := RouteTable{Routes: []Route{
		{Prefix: "/api/", Service: "catalog", Methods: []string{"get", "Post"}},
		{Path: "/legacy", Targets: []Target{{URL: "http://127.0.0.1:9000"}}, Timeout: Duration(time.Second)},
		{Path: "/split", Targets: []Target{{Service: "a", Weight: 3}, {URL: "http://old:80/", Weight: 1}, {Service: "c"}}},
	}}
	if err := table.prepare(); err != nil {
		t.Fatal(err)
	}
	byName := map[string]Route{}
	for _, r := range table.Routes {
		byName[r.name] = r
	}
	api := byName["/api/*"]
	if diff := cmp.Diff([]string{"GET", "POST"}, api.Methods); diff != "" {
		t.Errorf("methods are upper-cased (-want +got):\n%s", diff)
	}
	if api.Auth != AuthPublic || api.Timeout != Duration(5*time.Second) {
		t.Errorf("defaults: auth %q timeout %s, want public and 5s", api.Auth, time.Duration(api.Timeout))
	}
	if len(api.Targets) != 1 || api.Targets[0].Service != "catalog" || api.Targets[0].Weight != 1 || api.totalWeight != 1 {
		t.Errorf("service route targets = %+v (total %d), want catalog with weight 1", api.Targets, api.totalWeight)
	}
	legacy := byName["/legacy"]
	if legacy.Targets[0].host != "127.0.0.1:9000" || legacy.Targets[0].Weight != 1 || legacy.Timeout != Duration(time.Second) {
		t.Errorf("url route = %+v, want host 127.0.0.1:9000, weight 1, timeout 1s kept", legacy)
	}
	split := byName["/split"]
	if split.totalWeight != 4 || split.Targets[1].host != "old:80" {
		t.Errorf("split route = %+v (total %d), want total weight 4 (a zero weight stays zero among several)", split.Targets, split.totalWeight)
	}
}

func TestDefaultRoutesPrepare(t *testing.T) {
	table := DefaultRoutes()
	if err := table.prepare(); err != nil {
		t.Fatal(err)
	}
	// Longest first, exact before prefix at equal length.
	for i := 1; i < len(table.Routes); i++ {
		a, b := table.Routes[i-1], table.Routes[i]
		la, lb := len(a.Path+a.Prefix), len(b.Path+b.Prefix)
		if la < lb || (la == lb && a.Path == "" && b.Path != "") {
			t.Errorf("route %s sorts before %s", a.name, b.name)
		}
	}
	for _, r := range table.Routes {
		if internalPath(r.Rewrite) && r.Auth != AuthAdmin {
			t.Errorf("route %s rewrites to /internal for %s, want admin only", r.name, r.Auth)
		}
	}
}

func TestInternalPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/internal", true},
		{"/internal/audit", true},
		{"//internal/audit", true},
		{"/internals", true}, // refused too: no service has such a path
		{"/", false},
		{"", false},
		{"/.well-known/jwks.json", false},
		{"/api/internal", false},
	}
	for _, tt := range tests {
		if got := internalPath(tt.path); got != tt.want {
			t.Errorf("internalPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestParseRoutes(t *testing.T) {
	yamlDoc := `
routes:
  - path: /api/v1/products
    methods: [GET]
    service: catalog
    timeout: 250ms
  - prefix: /legacy/
    targets:
      - url: http://127.0.0.1:9000
        weight: 9
      - service: catalog
        weight: 1
`
	jsonDoc := `{"routes":[{"path":"/api/v1/products","methods":["GET"],"service":"catalog","timeout":"250ms"},
	{"prefix":"/legacy/","targets":[{"url":"http://127.0.0.1:9000","weight":9},{"service":"catalog","weight":1}]}]}`
	for name, doc := range map[string]string{"yaml": yamlDoc, "json": jsonDoc} {
		t.Run(name, func(t *testing.T) {
			table, err := ParseRoutes([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if len(table.Routes) != 2 {
				t.Fatalf("%d routes, want 2", len(table.Routes))
			}
			r, _ := table.match("GET", "/api/v1/products")
			if r == nil || r.Timeout != Duration(250*time.Millisecond) || r.Targets[0].Service != "catalog" {
				t.Errorf("products route = %+v, want catalog with a 250ms timeout", r)
			}
			r, _ = table.match("DELETE", "/legacy/x")
			if r == nil || r.totalWeight != 10 || r.Targets[0].host != "127.0.0.1:9000" {
				t.Errorf("legacy route = %+v, want a 9:1 split", r)
			}
		})
	}

	bad := map[string]string{
		"unknown top-level field": "routes: [{path: /a, service: s}]\nextra: 1\n",
		"unknown route field":     "routes: [{path: /a, service: s, sevice: t}]\n",
		"unknown target field":    "routes: [{path: /a, targets: [{service: s, wieght: 1}]}]\n",
		"unknown field in JSON":   `{"routes":[{"path":"/a","service":"s","auth":"public","rewrite_to":"/b"}]}`,
		"bad duration":            "routes: [{path: /a, service: s, timeout: soon}]\n",
		"number as duration":      "routes: [{path: /a, service: s, timeout: 5}]\n",
		"not a table":             "- path: /a\n",
		"invalid route":           "routes: [{path: /internal/x, service: s}]\n",
		"empty":                   "",
		"duplicate key":           "routes: [{path: /a, service: s, service: t}]\n",
	}
	for name, doc := range bad {
		if _, err := ParseRoutes([]byte(doc)); err == nil {
			t.Errorf("%s: ParseRoutes accepted %q", name, doc)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	d := Duration(1500 * time.Millisecond)
	b, err := d.MarshalJSON()
	if err != nil || string(b) != `"1.5s"` {
		t.Errorf("MarshalJSON = %s, %v; want \"1.5s\"", b, err)
	}
	var back Duration
	if err := back.UnmarshalJSON(b); err != nil || back != d {
		t.Errorf("UnmarshalJSON(%s) = %v, %v; want %v", b, back, err, d)
	}
}

func TestLoadRoutes(t *testing.T) {
	if _, err := LoadRoutes(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("LoadRoutes of a missing file succeeded")
	}
	path := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, []byte("routes: [{path: /a, service: s}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if table, err := LoadRoutes(path); err != nil || len(table.Routes) != 1 {
		t.Errorf("LoadRoutes = %v, %v", table, err)
	}
}

func TestMatch(t *testing.T) {
	table := RouteTable{Routes: []Route{
		{Prefix: "/api/", Service: "any"},
		{Prefix: "/api/v1/products/", Methods: []string{"GET"}, Handler: "product_page"},
		{Path: "/api/v1/products", Methods: []string{"GET"}, Service: "catalog"},
		{Path: "/api/v1/products", Methods: []string{"POST"}, Auth: AuthAdmin, Service: "catalog-admin"},
		{Prefix: "/api/v1/products", Methods: []string{"GET"}, Service: "prefix-same-length"},
		{Path: "/only-get", Methods: []string{"GET"}, Service: "get"},
	}}
	if err := table.prepare(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         string // route name, "" for none
		pathMatched  bool
	}{
		{"GET", "/api/v1/products", "/api/v1/products", true},      // exact beats the prefix of equal length
		{"POST", "/api/v1/products", "/api/v1/products", true},     // the POST twin
		{"GET", "/api/v1/products/42", "/api/v1/products/*", true}, // longest prefix
		{"GET", "/api/v1/productsX", "/api/*", true},               // a prefix without its slash matches whole segments only
		{"GET", "/api/v1/products/x", "/api/v1/products/*", true},  // the longer prefix still wins
		{"DELETE", "/api/v1/products/42", "/api/*", true},          // method mismatch falls to a broader route
		{"GET", "/api/v2/x", "/api/*", true},                       // catch-all prefix
		{"POST", "/only-get", "", true},                            // path known, method not: 405
		{"GET", "/nowhere", "", false},                             // 404
		{"GET", "/only-get/", "", false},                           // exact means exact
		{"GET", "/ONLY-GET", "", false},                            // and case-sensitive
		{"get", "/only-get", "", true},                             // methods are compared as sent
		{"GET", "/api", "", false},                                 // the prefix needs its slash
		{"OPTIONS", "/api/v1/products", "/api/*", true},            // only the catch-all takes any method
	}
	for _, tt := range tests {
		r, pm := table.match(tt.method, tt.path)
		got := ""
		if r != nil {
			got = r.name
		}
		if got != tt.want || (r == nil && pm != tt.pathMatched) {
			t.Errorf("match(%s %s) = %q, pathMatched %v; want %q, %v", tt.method, tt.path, got, pm, tt.want, tt.pathMatched)
		}
	}
	if r, _ := table.match("POST", "/api/v1/products"); r == nil || r.Targets[0].Service != "catalog-admin" {
		t.Errorf("POST /api/v1/products went to %+v, want catalog-admin", r)
	}
}

func TestWeightedPick(t *testing.T) {
	table := RouteTable{Routes: []Route{{Prefix: "/", Targets: []Target{
		{Service: "new", Weight: 90},
		{URL: "http://legacy:8080", Weight: 10},
		{Service: "never", Weight: 0},
	}}}}
	if err := table.prepare(); err != nil {
		t.Fatal(err)
	}
	r := &table.Routes[0]
	const n = 10000
	counts := map[string]int{}
	for range n {
		tg := r.pick()
		counts[tg.Service+tg.URL]++
	}
	// Binomial(10000, 0.1): sd = 30; 5 sd either way.
	if got := counts["http://legacy:8080"]; math.Abs(float64(got)-1000) > 150 {
		t.Errorf("legacy got %d of %d picks, want 1000 ± 150 (weight 10 of 100)", got, n)
	}
	if got := counts["never"]; got != 0 {
		t.Errorf("a zero-weight target got %d picks", got)
	}
	if counts["new"]+counts["http://legacy:8080"] != n {
		t.Errorf("counts = %v", counts)
	}
}
