package gateway

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Access levels of a route.
const (
	AuthPublic = "public" // anyone; a token, if sent, is forwarded as is
	AuthUser   = "user"   // a valid user token
	AuthAdmin  = "admin"  // a valid admin token
)

// Target is where a route sends requests: a registered service, or an
// external URL (a legacy system being strangled).
type Target struct {
	Service string `json:"service,omitempty"`
	URL     string `json:"url,omitempty"`
	Weight  int    `json:"weight,omitempty"`

	host string // URL's host:port, for the upstream client
}

// Route maps requests to a target or a local handler.
type Route struct {
	Path    string   `json:"path,omitempty"`    // exact path
	Prefix  string   `json:"prefix,omitempty"`  // or a path prefix
	Methods []string `json:"methods,omitempty"` // empty = any
	Auth    string   `json:"auth,omitempty"`    // public (default), user, admin
	// Exactly one of Service, Targets and Handler.
	Service string   `json:"service,omitempty"`
	Targets []Target `json:"targets,omitempty"` // weighted split
	Handler string   `json:"handler,omitempty"` // a built-in handler
	// Timeout bounds the upstream call (default 5s).
	Timeout Duration `json:"timeout,omitempty"`
	// Login marks the login route, which gets its own stricter limits.
	Login bool `json:"login,omitempty"`
	// Rewrite, for a prefix route, replaces the prefix with this path
	// before forwarding: how admin routes reach services' audit endpoints,
	// and how a public path can be mapped onto another service path. Only
	// admin routes may rewrite to /internal.
	Rewrite string `json:"rewrite,omitempty"`

	totalWeight int
	name        string // for logs and metrics
}

// Duration is a time.Duration written as "5s" in config files.
type Duration time.Duration

// UnmarshalJSON parses "250ms", "5s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes d as "5s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// RouteTable is the gateway's routing configuration.
type RouteTable struct {
	Routes []Route `json:"routes"`
}

// handlers are the built-in handlers a route may name.
var handlers = map[string]bool{"health": true, "product_page": true, "openapi": true, "admin_status": true, "admin_kill": true, "admin_dlq": true, "admin_dlq_redrive": true, "web": true}

// DefaultRoutes is the table of the Souk API (API.md). A routes file
// replaces it whole; `souk routes` prints it as YAML to start from, and
// `souk routes check FILE` validates a file.
func DefaultRoutes() RouteTable {
	return RouteTable{Routes: []Route{
		{Path: "/health", Methods: []string{"GET"}, Handler: "health"},
		{Path: "/api/v1/openapi.json", Methods: []string{"GET"}, Handler: "openapi"},
		{Path: "/.well-known/jwks.json", Methods: []string{"GET"}, Service: "auth"},
		{Path: "/api/v1/auth/login", Methods: []string{"POST"}, Service: "auth", Login: true},
		{Path: "/api/v1/auth/signup", Methods: []string{"POST"}, Service: "auth"},
		{Prefix: "/api/v1/admin/keys/", Methods: []string{"POST"}, Auth: AuthAdmin, Service: "auth"},
		{Path: "/api/v1/admin/status", Methods: []string{"GET"}, Auth: AuthAdmin, Handler: "admin_status"},
		{Prefix: "/api/v1/admin/instances/", Methods: []string{"POST"}, Auth: AuthAdmin, Handler: "admin_kill"},
		{Path: "/api/v1/admin/dlq", Methods: []string{"GET"}, Auth: AuthAdmin, Handler: "admin_dlq"},
		{Path: "/api/v1/admin/dlq/redrive", Methods: []string{"POST"}, Auth: AuthAdmin, Handler: "admin_dlq_redrive"},
		{Prefix: "/api/v1/admin/audit/orders", Methods: []string{"GET"}, Auth: AuthAdmin, Service: "order", Rewrite: "/internal/audit/orders"},
		{Prefix: "/api/v1/admin/audit/charges", Methods: []string{"GET"}, Auth: AuthAdmin, Service: "payment", Rewrite: "/internal/audit/charges"},
		{Prefix: "/api/v1/admin/audit/stock", Methods: []string{"GET"}, Auth: AuthAdmin, Service: "inventory", Rewrite: "/internal/audit/stock"},
		{Prefix: "/api/v1/admin/audit/reservations", Methods: []string{"GET"}, Auth: AuthAdmin, Service: "inventory", Rewrite: "/internal/audit/reservations"},
		{Prefix: "/api/v1/admin/audit/notifications", Methods: []string{"GET"}, Auth: AuthAdmin, Service: "notification", Rewrite: "/internal/audit/notifications"},
		{Prefix: "/api/v1/admin/audit/tasks", Methods: []string{"GET"}, Auth: AuthAdmin, Service: "warehouse", Rewrite: "/internal/audit/tasks"},
		{Prefix: "/api/v1/users/", Auth: AuthUser, Service: "user"},
		{Path: "/api/v1/products", Methods: []string{"GET"}, Service: "catalog"},
		{Path: "/api/v1/products", Methods: []string{"POST"}, Auth: AuthAdmin, Service: "catalog"},
		{Prefix: "/api/v1/products/", Methods: []string{"GET"}, Handler: "product_page"},
		{Prefix: "/api/v1/products/", Methods: []string{"PUT"}, Auth: AuthAdmin, Service: "catalog"},
		{Prefix: "/api/v1/inventory/", Methods: []string{"GET"}, Service: "inventory"},
		{Prefix: "/api/v1/inventory/", Methods: []string{"PUT"}, Auth: AuthAdmin, Service: "inventory"},
		{Path: "/api/v1/search", Methods: []string{"GET"}, Service: "search"},
		{Prefix: "/api/v1/recommendations/", Methods: []string{"GET"}, Service: "recommendation"},
		{Path: "/api/v1/orders", Methods: []string{"GET", "POST"}, Auth: AuthUser, Service: "order", Timeout: Duration(10 * time.Second)},
		{Prefix: "/api/v1/orders/", Methods: []string{"GET"}, Auth: AuthUser, Service: "order"},
		{Path: "/api/v1/notifications", Methods: []string{"GET"}, Auth: AuthUser, Service: "notification"},
		{Prefix: "/api/v1/warehouse/", Methods: []string{"GET", "POST"}, Auth: AuthAdmin, Service: "warehouse"},
		{Path: "/", Methods: []string{"GET"}, Handler: "web"},
		{Prefix: "/ui/", Methods: []string{"GET"}, Handler: "web"},
	}}
}

// ParseRoutes reads a routes file (YAML or JSON) and validates it.
func ParseRoutes(data []byte) (RouteTable, error) {
	var t RouteTable
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return RouteTable{}, fmt.Errorf("routes: %w", err)
	}
	if err := t.prepare(); err != nil {
		return RouteTable{}, err
	}
	return t, nil
}

// LoadRoutes reads and validates the routes file at path.
func LoadRoutes(path string) (RouteTable, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return RouteTable{}, fmt.Errorf("routes: %w", err)
	}
	return ParseRoutes(data)
}

// prepare validates t and fills the derived fields.
func (t *RouteTable) prepare() error {
	if len(t.Routes) == 0 {
		return fmt.Errorf("routes: the table is empty")
	}
	for i := range t.Routes {
		r := &t.Routes[i]
		where := fmt.Sprintf("routes[%d]", i)
		switch {
		case r.Path != "" && r.Prefix != "":
			return fmt.Errorf("%s: set path or prefix, not both", where)
		case r.Path == "" && r.Prefix == "":
			return fmt.Errorf("%s: set path or prefix", where)
		case !strings.HasPrefix(r.Path+r.Prefix, "/"):
			return fmt.Errorf("%s: paths start with /", where)
		case strings.HasPrefix(r.Path+r.Prefix, "/internal"):
			return fmt.Errorf("%s: /internal routes are never exposed", where)
		case r.Rewrite != "" && (r.Prefix == "" || !strings.HasPrefix(r.Rewrite, "/")):
			return fmt.Errorf("%s: rewrite needs a prefix route and a path starting with /", where)
		case r.Rewrite != "" && r.Auth != AuthAdmin && internalPath(r.Rewrite):
			// Services' /internal endpoints are for admins only; the
			// proxy also refuses a non-admin rewrite that lands there.
			return fmt.Errorf("%s: only a route with auth admin may rewrite to /internal", where)
		}
		kinds := 0
		for _, set := range []bool{r.Service != "", len(r.Targets) > 0, r.Handler != ""} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return fmt.Errorf("%s: set exactly one of service, targets, handler", where)
		}
		if r.Handler != "" && !handlers[r.Handler] {
			return fmt.Errorf("%s: unknown handler %q", where, r.Handler)
		}
		switch r.Auth {
		case "":
			r.Auth = AuthPublic
		case AuthPublic, AuthUser, AuthAdmin:
		default:
			return fmt.Errorf("%s: auth %q: want public, user or admin", where, r.Auth)
		}
		for j, m := range r.Methods {
			r.Methods[j] = strings.ToUpper(m)
		}
		if r.Service != "" {
			r.Targets = []Target{{Service: r.Service, Weight: 1}}
		}
		r.totalWeight = 0
		for j := range r.Targets {
			tg := &r.Targets[j]
			if (tg.Service == "") == (tg.URL == "") {
				return fmt.Errorf("%s.targets[%d]: set service or url", where, j)
			}
			if tg.URL != "" {
				u, err := url.Parse(tg.URL)
				if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
					return fmt.Errorf("%s.targets[%d]: url %q: want http://host:port", where, j, tg.URL)
				}
				tg.host = u.Host
			}
			if tg.Weight < 0 {
				return fmt.Errorf("%s.targets[%d]: negative weight", where, j)
			}
			if tg.Weight == 0 && len(r.Targets) == 1 {
				tg.Weight = 1
			}
			r.totalWeight += tg.Weight
		}
		if len(r.Targets) > 0 && r.totalWeight == 0 {
			return fmt.Errorf("%s: the weights sum to 0", where)
		}
		if r.Timeout == 0 {
			r.Timeout = Duration(5 * time.Second)
		}
		r.name = r.Path + r.Prefix
		if r.Prefix != "" {
			r.name += "*"
		}
	}
	// Longest path first, so the most specific route wins; exact before
	// prefix at equal length.
	sort.SliceStable(t.Routes, func(i, j int) bool {
		a, b := t.Routes[i], t.Routes[j]
		la, lb := len(a.Path+a.Prefix), len(b.Path+b.Prefix)
		if la != lb {
			return la > lb
		}
		return a.Path != "" && b.Path == ""
	})
	return nil
}

// match returns the route for method and path. pathMatched reports whether
// some route had the path but not the method (405, not 404).
func (t *RouteTable) match(method, path string) (r *Route, pathMatched bool) {
	for i := range t.Routes {
		rt := &t.Routes[i]
		if rt.Path != "" && rt.Path != path {
			continue
		}
		if rt.Prefix != "" && !prefixMatch(path, rt.Prefix) {
			continue
		}
		if len(rt.Methods) == 0 {
			return rt, true
		}
		for _, m := range rt.Methods {
			if m == method {
				return rt, true
			}
		}
		pathMatched = true
	}
	return nil, pathMatched
}

// internalPath reports whether a service would take path for one of its
// /internal endpoints (or a path a router would clean into one).
func internalPath(path string) bool {
	return strings.HasPrefix(strings.TrimLeft(path, "/"), "internal")
}

// prefixMatch reports whether path is under prefix. A prefix that does not
// end in "/" matches whole segments only: "/api/v1/admin/audit/orders"
// covers ".../orders" and ".../orders/x", never ".../ordersX".
func prefixMatch(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return strings.HasSuffix(prefix, "/") || len(path) == len(prefix) || path[len(prefix)] == '/'
}

// allowed lists the methods the routes of path accept, for a 405's Allow
// header.
func (t *RouteTable) allowed(path string) []string {
	seen := map[string]bool{}
	var out []string
	for i := range t.Routes {
		rt := &t.Routes[i]
		if (rt.Path != "" && rt.Path != path) || (rt.Prefix != "" && !prefixMatch(path, rt.Prefix)) {
			continue
		}
		for _, m := range rt.Methods {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out
}

// pick chooses a target by weight.
func (r *Route) pick() *Target {
	if len(r.Targets) == 1 {
		return &r.Targets[0]
	}
	n := rand.IntN(r.totalWeight)
	for i := range r.Targets {
		n -= r.Targets[i].Weight
		if n < 0 {
			return &r.Targets[i]
		}
	}
	return &r.Targets[len(r.Targets)-1]
}
