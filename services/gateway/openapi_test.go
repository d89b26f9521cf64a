package gateway

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/souk/souk/api/openapi"
	"github.com/souk/souk/launcher"
	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/services"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/services/catalog"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/services/notification"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/services/recommendation"
	"github.com/souk/souk/services/search"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/services/warehouse"
)

// openAPIRoutes maps every route of DefaultRoutes, per method ("*" for a
// route that takes any method), to the operations of openapi.json that
// document it. A prefix route covers the templated paths behind it. A new
// route without an entry fails TestOpenAPICoversEveryRoute: document it,
// then add it here. An entry with no operations is a route left out of
// the API on purpose (the web UI's HTML).
var openAPIRoutes = map[string][]string{
	"GET /health":                            {"GET /health"},
	"GET /api/v1/openapi.json":               {"GET /api/v1/openapi.json"},
	"GET /.well-known/jwks.json":             {"GET /.well-known/jwks.json"},
	"POST /api/v1/auth/login":                {"POST /api/v1/auth/login"},
	"POST /api/v1/auth/signup":               {"POST /api/v1/auth/signup"},
	"POST /api/v1/admin/keys/*":              {"POST /api/v1/admin/keys/rotate"},
	"GET /api/v1/admin/status":               {"GET /api/v1/admin/status"},
	"POST /api/v1/admin/instances/*":         {"POST /api/v1/admin/instances/{id}/kill", "POST /api/v1/admin/instances/{id}/stop", "POST /api/v1/admin/instances/{id}/start"},
	"GET /api/v1/admin/dlq":                  {"GET /api/v1/admin/dlq"},
	"POST /api/v1/admin/dlq/redrive":         {"POST /api/v1/admin/dlq/redrive"},
	"GET /api/v1/admin/audit/orders*":        {"GET /api/v1/admin/audit/orders"},
	"GET /api/v1/admin/audit/charges*":       {"GET /api/v1/admin/audit/charges"},
	"GET /api/v1/admin/audit/stock*":         {"GET /api/v1/admin/audit/stock"},
	"GET /api/v1/admin/audit/reservations*":  {"GET /api/v1/admin/audit/reservations"},
	"GET /api/v1/admin/audit/notifications*": {"GET /api/v1/admin/audit/notifications"},
	"GET /api/v1/admin/audit/tasks*":         {"GET /api/v1/admin/audit/tasks"},
	"* /api/v1/users/*":                      {"GET /api/v1/users/me", "PATCH /api/v1/users/me"},
	"GET /api/v1/products":                   {"GET /api/v1/products"},
	"POST /api/v1/products":                  {"POST /api/v1/products"},
	"GET /api/v1/products/*":                 {"GET /api/v1/products/{id}"},
	"PUT /api/v1/products/*":                 {"PUT /api/v1/products/{id}"},
	"GET /api/v1/inventory/*":                {"GET /api/v1/inventory/{product_id}"},
	"PUT /api/v1/inventory/*":                {"PUT /api/v1/inventory/{product_id}"},
	"GET /api/v1/search":                     {"GET /api/v1/search"},
	"GET /api/v1/recommendations/*":          {"GET /api/v1/recommendations/{product_id}"},
	"GET /api/v1/orders":                     {"GET /api/v1/orders"},
	"POST /api/v1/orders":                    {"POST /api/v1/orders"},
	"GET /api/v1/orders/*":                   {"GET /api/v1/orders/{id}", "GET /api/v1/orders/{id}/history"},
	"GET /api/v1/notifications":              {"GET /api/v1/notifications"},
	"GET /api/v1/warehouse/*":                {"GET /api/v1/warehouse/tasks"},
	"POST /api/v1/warehouse/*":               {"POST /api/v1/warehouse/tasks/{id}/ship"},
	"GET /":                                  nil, // the storefront's HTML
	"GET /ui/*":                              nil, // the web UI's pages and assets
}

func parseOpenAPI(t *testing.T) *openapi.Document {
	t.Helper()
	doc, err := openapi.Parse(OpenAPI)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// rawOpenAPI is openapi.json as plain JSON, for what the parsed document
// does not expose.
func rawOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(OpenAPI, &raw); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return raw
}

func TestOpenAPIDocument(t *testing.T) {
	doc := parseOpenAPI(t)
	if got, want := doc.Version, "3.1.0"; got != want {
		t.Errorf("openapi = %q, want %q", got, want)
	}
	var top struct {
		Info struct {
			Title   string `json:"title"`
			Version string `json:"version"`
		} `json:"info"`
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		Tags []struct {
			Name string `json:"name"`
		} `json:"tags"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type         string `json:"type"`
				Scheme       string `json:"scheme"`
				BearerFormat string `json:"bearerFormat"`
				Description  string `json:"description"`
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI, &top); err != nil {
		t.Fatal(err)
	}
	if top.Info.Title == "" || top.Info.Version == "" {
		t.Errorf("info = %+v, want a title and a version", top.Info)
	}
	if len(top.Servers) == 0 || top.Servers[0].URL != "http://127.0.0.1:8080" {
		t.Errorf("servers = %+v, want http://127.0.0.1:8080 first", top.Servers)
	}
	bearer := top.Components.SecuritySchemes["bearerAuth"]
	if bearer.Type != "http" || bearer.Scheme != "bearer" || bearer.BearerFormat != "JWT" || !strings.Contains(bearer.Description, "EdDSA") {
		t.Errorf("securitySchemes.bearerAuth = %+v, want http bearer JWT (EdDSA)", bearer)
	}
	var tags []string
	for _, tg := range top.Tags {
		tags = append(tags, tg.Name)
	}
	for _, svc := range append([]string{services.Gateway}, services.All...) {
		if !slices.Contains(tags, svc) {
			t.Errorf("tags = %v: no tag for service %s", tags, svc)
		}
	}
	for _, op := range doc.Operations() {
		if len(op.Tags) != 1 {
			t.Errorf("%s %s: tags %v, want exactly one service", op.Method, op.Path, op.Tags)
		}
	}
	if unused := doc.UnusedComponents(); len(unused) > 0 {
		t.Errorf("components no $ref uses: %v", unused)
	}
	for _, ref := range doc.Refs() {
		if !strings.HasPrefix(ref, "#/components/") {
			t.Errorf("$ref %q: want a reference to #/components/", ref)
		}
	}
}

// TestOpenAPICoversEveryRoute checks that every route and method of the
// default table is documented, by an operation the route really serves
// with the route's access level, and that the document has no operation
// the gateway does not route.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := parseOpenAPI(t)
	table := DefaultRoutes()
	if err := table.prepare(); err != nil {
		t.Fatal(err)
	}
	covered := map[*openapi.Operation]string{}
	used := map[string]bool{}
	for i := range table.Routes {
		rt := &table.Routes[i]
		methods := rt.Methods
		if len(methods) == 0 {
			methods = []string{"*"}
		}
		for _, m := range methods {
			key := m + " " + rt.name
			ops, ok := openAPIRoutes[key]
			if !ok {
				t.Errorf("route %q (%s) has no entry in openAPIRoutes: document it in openapi.json and list its operations there", key, rt.Auth)
				continue
			}
			used[key] = true
			for _, entry := range ops {
				method, path, _ := strings.Cut(entry, " ")
				op := doc.Operation(method, path)
				if op == nil {
					t.Errorf("route %q: openapi.json has no operation %s", key, entry)
					continue
				}
				if m != "*" && method != m {
					t.Errorf("route %q: operation %s has another method", key, entry)
				}
				concrete := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "p_1")
				if got, _ := table.match(method, concrete); got != rt {
					t.Errorf("route %q: %s %s is routed to %v, not to this route", key, method, concrete, routeName(got))
				}
				covered[op] = key
				checkOperation(t, op, rt)
			}
		}
	}
	for key := range openAPIRoutes {
		if !used[key] {
			t.Errorf("openAPIRoutes[%q] names no route of DefaultRoutes: remove it", key)
		}
	}
	for _, op := range doc.Operations() {
		if _, ok := covered[op]; !ok {
			t.Errorf("operation %s %s (%s) is not served by any route listed in openAPIRoutes", op.Method, op.Path, op.ID)
		}
	}
}

func routeName(r *Route) string {
	if r == nil {
		return "no route"
	}
	return r.name
}

// checkOperation checks what every operation of a route must document:
// its access level, the gateway's own failures, and problem+json errors.
func checkOperation(t *testing.T, op *openapi.Operation, rt *Route) {
	t.Helper()
	where := op.Method + " " + op.Path
	var want []map[string][]string
	switch rt.Auth {
	case AuthUser:
		want = []map[string][]string{{"bearerAuth": {}}}
	case AuthAdmin:
		want = []map[string][]string{{"bearerAuth": {"admin"}}}
	}
	if !securityEqual(op.Security, want) {
		t.Errorf("%s: security %v, want %v for a route with auth %s", where, op.Security, want, rt.Auth)
	}
	statuses := op.Statuses()
	need := []string{"429", "500", "503"}
	if rt.Auth != AuthPublic {
		need = append(need, "401", "403")
	}
	if rt.Service != "" {
		// The gateway's deadline on the upstream call; and services verify
		// a token whenever one is sent, even on public routes.
		need = append(need, "504", "401")
	}
	if op.HasBody() {
		need = append(need, "400", "413")
	}
	for _, s := range need {
		if !slices.Contains(statuses, s) {
			t.Errorf("%s: documents %v, want %s too", where, statuses, s)
		}
	}
	for _, s := range []string{"429", "503"} {
		if !slices.Contains(op.Headers(s), "Retry-After") {
			t.Errorf("%s: response %s documents no Retry-After header", where, s)
		}
	}
	for _, s := range statuses {
		types := op.MediaTypes(s)
		switch {
		case s[0] == '2' && !slices.Contains(types, "application/json"):
			t.Errorf("%s: response %s has media types %v, want application/json", where, s, types)
		case s[0] >= '4' && !slices.Contains(types, fault.ContentType):
			t.Errorf("%s: response %s has media types %v, want %s", where, s, types, fault.ContentType)
		}
	}
}

func securityEqual(got, want []map[string][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return false
		}
		for k, v := range want[i] {
			g, ok := got[i][k]
			if !ok || !slices.Equal(g, v) {
				return false
			}
		}
	}
	return true
}

// openAPISchemas maps the component schemas to the Go types the services
// encode or decode, so that a field added, renamed or retyped in code but
// not in the document (or the reverse) fails here, not at a client.
var openAPISchemas = map[string]struct {
	typ     reflect.Type
	request bool // a request body: closed, and required follows validation, not encoding
}{
	"Problem":               {typ: reflect.TypeFor[fault.Problem]()},
	"FieldError":            {typ: reflect.TypeFor[fault.FieldError]()},
	"JWKSet":                {typ: reflect.TypeFor[authn.JWKSet]()},
	"JWK":                   {typ: reflect.TypeFor[authn.JWK]()},
	"SignupRequest":         {typ: reflect.TypeFor[auth.SignupRequest](), request: true},
	"LoginRequest":          {typ: reflect.TypeFor[auth.LoginRequest](), request: true},
	"Token":                 {typ: reflect.TypeFor[auth.Token]()},
	"KeyInfo":               {typ: reflect.TypeFor[auth.KeyInfo]()},
	"Profile":               {typ: reflect.TypeFor[user.Profile]()},
	"ProfileUpdate":         {typ: reflect.TypeFor[user.UpdateRequest](), request: true},
	"Product":               {typ: reflect.TypeFor[catalog.Product]()},
	"ProductList":           {typ: reflect.TypeFor[catalog.Page]()},
	"ProductCreate":         {typ: reflect.TypeFor[catalog.CreateRequest](), request: true},
	"ProductUpdate":         {typ: reflect.TypeFor[catalog.UpdateRequest](), request: true},
	"StockLevel":            {typ: reflect.TypeFor[inventory.Level]()},
	"StockUpdate":           {typ: reflect.TypeFor[inventory.SetStockRequest](), request: true},
	"StockView":             {typ: reflect.TypeFor[inventory.StockView]()},
	"SearchHit":             {typ: reflect.TypeFor[search.Hit]()},
	"Recommendations":       {typ: reflect.TypeFor[recommendation.Recommendations]()},
	"Recommendation":        {typ: reflect.TypeFor[recommendation.Item]()},
	"OrderRequest":          {typ: reflect.TypeFor[order.PlaceRequest](), request: true},
	"OrderLineRequest":      {typ: reflect.TypeFor[order.LineRequest](), request: true},
	"Card":                  {typ: reflect.TypeFor[payment.Card](), request: true},
	"Order":                 {typ: reflect.TypeFor[order.Order]()},
	"OrderItem":             {typ: reflect.TypeFor[order.Item]()},
	"OrderPayment":          {typ: reflect.TypeFor[order.Payment]()},
	"OrderPage":             {typ: reflect.TypeFor[order.Page]()},
	"OrderEvent":            {typ: reflect.TypeFor[order.Event]()},
	"Notification":          {typ: reflect.TypeFor[notification.Message]()},
	"NotificationPage":      {typ: reflect.TypeFor[notification.Page]()},
	"Task":                  {typ: reflect.TypeFor[warehouse.Task]()},
	"TaskPage":              {typ: reflect.TypeFor[warehouse.Page]()},
	"Status":                {typ: reflect.TypeFor[Status]()},
	"ServiceStatus":         {typ: reflect.TypeFor[ServiceStatus]()},
	"ProcessInfo":           {typ: reflect.TypeFor[launcher.ProcInfo]()},
	"DeadLetter":            {typ: reflect.TypeFor[events.DeadLetter]()},
	"Event":                 {typ: reflect.TypeFor[events.Event]()},
	"OrderAudit":            {typ: reflect.TypeFor[order.AuditRow]()},
	"ChargeAudit":           {typ: reflect.TypeFor[payment.Audit]()},
	"StockAudit":            {typ: reflect.TypeFor[inventory.Stock]()},
	"StockAuditPage":        {typ: reflect.TypeFor[inventory.Page[inventory.Stock]]()},
	"ReservationAudit":      {typ: reflect.TypeFor[inventory.ReservationAudit]()},
	"ReservationAuditPage":  {typ: reflect.TypeFor[inventory.Page[inventory.ReservationAudit]]()},
	"NotificationAudit":     {typ: reflect.TypeFor[notification.Audit]()},
	"NotificationAuditPage": {typ: reflect.TypeFor[notification.AuditPage]()},
	"TaskAudit":             {typ: reflect.TypeFor[warehouse.Audit]()},
	"TaskAuditPage":         {typ: reflect.TypeFor[warehouse.AuditPage]()},
}

// TestOpenAPISchemasMatchGoTypes compares each schema with its Go type:
// the same JSON fields, compatible types, and (for responses) every field
// the encoder always writes required.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	parseOpenAPI(t)
	raw := rawOpenAPI(t)
	schemas := raw["components"].(map[string]any)["schemas"].(map[string]any)
	for name, tc := range openAPISchemas {
		t.Run(name, func(t *testing.T) {
			s, ok := schemas[name].(map[string]any)
			if !ok {
				t.Fatalf("components.schemas has no %s", name)
			}
			props, _ := s["properties"].(map[string]any)
			required := stringList(s["required"])
			if tc.request && s["additionalProperties"] != false {
				t.Errorf("a request schema must set additionalProperties: false (the decoders refuse unknown fields)")
			}
			if !tc.request && s["additionalProperties"] != nil {
				t.Errorf("a response schema must leave additionalProperties open, so that adding a field is not a breaking change")
			}
			fields := jsonFields(tc.typ)
			for _, f := range fields {
				ps, ok := props[f.name].(map[string]any)
				if !ok {
					t.Errorf("field %q of %v is not in the schema", f.name, tc.typ)
					continue
				}
				if !tc.request && !f.omitempty && !slices.Contains(required, f.name) {
					t.Errorf("field %q is always sent, so it must be required", f.name)
				}
				if !tc.request && f.omitempty && slices.Contains(required, f.name) {
					t.Errorf("field %q is omitted when empty, so it must not be required", f.name)
				}
				want := f.types
				if want != nil && f.goType.Kind() == reflect.Pointer && !f.omitempty && !tc.request {
					want = append(want, "null") // a nil pointer is written as null
				}
				if got := schemaTypes(schemas, ps); want != nil && !slices.Equal(got, want) {
					t.Errorf("field %q: schema type %v, want %v (Go %v)", f.name, got, want, f.goType)
				}
			}
			for p := range props {
				if !slices.ContainsFunc(fields, func(f jsonField) bool { return f.name == p }) {
					t.Errorf("property %q is not a JSON field of %v", p, tc.typ)
				}
			}
			for _, r := range required {
				if _, ok := props[r]; !ok {
					t.Errorf("required %q is not a property", r)
				}
			}
		})
	}
}

type jsonField struct {
	name      string
	omitempty bool // omitempty or omitzero: may be absent
	goType    reflect.Type
	types     []string // the JSON Schema types the value can encode to; nil: any
}

// jsonFields lists the fields encoding/json writes for t.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, omitempty: strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero"), goType: f.Type, types: jsonTypes(f.Type)})
	}
	return out
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

func jsonTypes(t reflect.Type) []string {
	switch {
	case t == timeType:
		return []string{"string"}
	case t == rawType:
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonTypes(t.Elem())
	case reflect.String:
		return []string{"string"}
	case reflect.Bool:
		return []string{"boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return []string{"integer"}
	case reflect.Float32, reflect.Float64:
		return []string{"number"}
	case reflect.Slice, reflect.Array:
		return []string{"array"}
	case reflect.Map, reflect.Struct:
		return []string{"object"}
	}
	return nil
}

// schemaTypes returns the types a property schema allows, following a
// $ref and reading const; nil when it does not say.
func schemaTypes(schemas map[string]any, s map[string]any) []string {
	if ref, ok := s["$ref"].(string); ok {
		target, _ := schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		if target == nil {
			return nil
		}
		return schemaTypes(schemas, target)
	}
	switch v := s["type"].(type) {
	case string:
		return []string{v}
	case []any:
		return stringList(v)
	}
	switch s["const"].(type) {
	case string:
		return []string{"string"}
	}
	return nil
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestOpenAPIServed checks that GET /api/v1/openapi.json serves the
// embedded document as it is.
func TestOpenAPIServed(t *testing.T) {
	var ctx fasthttp.RequestCtx
	serveOpenAPI(&ctx, &request{})
	if got, want := ctx.Response.StatusCode(), 200; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if got, want := string(ctx.Response.Header.ContentType()), "application/json"; got != want {
		t.Errorf("content type = %q, want %q", got, want)
	}
	if !bytes.Equal(ctx.Response.Body(), OpenAPI) {
		t.Error("the body is not the embedded openapi.json")
	}
}
