package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/api/openapi"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/services/gateway"
	"github.com/souk/souk/tools/client"
)

// apiCheck sends requests through the gateway and checks each request and
// each real response against the OpenAPI document the gateway serves.
type apiCheck struct {
	t   *testing.T
	ctx context.Context
	doc *openapi.Document

	mu        sync.Mutex
	exercised map[*openapi.Operation][]int // statuses seen per operation
}

// call is one request of the flow.
type call struct {
	as     *client.Client
	method string
	target string // path and query
	body   any    // nil, raw []byte, or a value sent as JSON
	header []string
	status int // the status the flow expects
	// breaksDoc marks a request that is invalid on purpose: the document
	// must refuse it as the server does, so the schemas are as strict as
	// the decoders.
	breaksDoc bool
}

// do sends c, checks the request against the document, and checks the
// answer's status (against the flow) and status, headers and body
// (against the document). It returns the answer.
func (a *apiCheck) do(c call) *client.Response {
	a.t.Helper()
	var body []byte
	switch b := c.body.(type) {
	case nil:
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			a.t.Fatal(err)
		}
	}
	reqHeader := http.Header{}
	if body != nil {
		reqHeader.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		reqHeader.Set(c.header[i], c.header[i+1])
	}
	err := a.doc.ValidateRequest(c.method, c.target, reqHeader, body)
	switch {
	case c.breaksDoc && err == nil:
		a.t.Errorf("%s %s with %s: the document accepts this request, but the server must refuse it (%d): make the schema as strict as the service", c.method, c.target, body, c.status)
	case !c.breaksDoc && err != nil:
		a.t.Errorf("the flow's own request does not match the document:\n%v\nbody: %s", err, body)
	}
	var sent any
	if body != nil {
		sent = body
	}
	resp, err := c.as.Do(a.ctx, c.method, c.target, sent, c.header...)
	if err != nil {
		a.t.Fatalf("%s %s: %v", c.method, c.target, err)
	}
	a.check(c.method, c.target, resp)
	if resp.Status != c.status {
		a.t.Errorf("%s %s: status %d, the flow expects %d: %s", c.method, c.target, resp.Status, c.status, resp.Body)
	}
	return resp
}

// check validates one response against the document and records it.
func (a *apiCheck) check(method, target string, resp *client.Response) {
	a.t.Helper()
	if err := a.doc.ValidateResponse(method, target, resp.Status, resp.Header, resp.Body); err != nil {
		a.t.Errorf("%v\nbody: %.2000s", err, resp.Body)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), fault.ContentType) {
		var p fault.Problem
		if err := json.Unmarshal(resp.Body, &p); err == nil && p.Status != resp.Status {
			a.t.Errorf("%s %s: HTTP status %d but the problem says status %d: %s", method, target, resp.Status, p.Status, resp.Body)
		}
	}
	path, _, _ := strings.Cut(target, "?")
	if op, _, err := a.doc.Match(method, path); err == nil {
		a.mu.Lock()
		a.exercised[op] = append(a.exercised[op], resp.Status)
		a.mu.Unlock()
	}
}

// decode reads a response body that the document already checked.
func decode[T any](t *testing.T, resp *client.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		t.Fatalf("decode %s: %v", resp.Body, err)
	}
	return v
}

// until repeats c (checking every answer) until ok accepts one.
func (a *apiCheck) until(what string, c call, ok func(*client.Response) bool) *client.Response {
	a.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := a.do(c)
		if ok(resp) {
			return resp
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: not within 5s; last answer %d %s", what, resp.Status, resp.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOpenAPI drives the whole public API through the gateway of a real
// system, the happy paths and the refusals, and checks every request and
// every response against the OpenAPI document the gateway serves: a
// response of an undocumented status, with another content type, or whose
// body breaks its schema fails the test, naming the path, the status and
// what did not match.
func TestOpenAPI(t *testing.T) {
	sys := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	anon := client.New(sys.URL)

	// The document, as served.
	raw, err := anon.Do(ctx, "GET", "/api/v1/openapi.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw.Body, gateway.OpenAPI) {
		t.Fatal("GET /api/v1/openapi.json is not the gateway's embedded openapi.json")
	}
	doc, err := openapi.Parse(raw.Body)
	if err != nil {
		t.Fatalf("the served document: %v", err)
	}
	a := &apiCheck{t: t, ctx: ctx, doc: doc, exercised: map[*openapi.Operation][]int{}}
	a.check("GET", "/api/v1/openapi.json", raw)
	admin := sys.admin

	// Gateway and auth.
	a.do(call{as: anon, method: "GET", target: "/health", status: 200})
	a.do(call{as: anon, method: "GET", target: "/.well-known/jwks.json", status: 200})
	email := fmt.Sprintf("ada-%d@example.com", time.Now().UnixNano())
	const password = "correct horse battery"
	a.do(call{as: anon, method: "POST", target: "/api/v1/auth/signup", body: map[string]string{"email": email, "password": password, "name": "Ada"}, status: 201})
	a.do(call{as: anon, method: "POST", target: "/api/v1/auth/signup", body: map[string]string{"email": email, "password": password, "name": "Ada"}, status: 409})
	a.do(call{as: anon, method: "POST", target: "/api/v1/auth/signup", body: map[string]string{"email": "x" + email, "password": "short", "name": "Ada"}, status: 400, breaksDoc: true})
	a.do(call{as: anon, method: "POST", target: "/api/v1/auth/signup", body: map[string]string{"email": "y" + email, "password": password, "name": "Ada", "role": "admin"}, status: 400, breaksDoc: true})
	a.do(call{as: anon, method: "POST", target: "/api/v1/auth/login", body: map[string]string{"email": email, "password": "wrong password"}, status: 401})
	a.do(call{as: anon, method: "POST", target: "/api/v1/auth/login", body: map[string]string{"email": email}, status: 400, breaksDoc: true})
	tok := decode[client.Token](t, a.do(call{as: anon, method: "POST", target: "/api/v1/auth/login", body: map[string]string{"email": email, "password": password}, status: 200}))
	ada := anon.WithToken(tok.AccessToken)
	bob := sys.user(ctx, "Bob")

	// Profiles; the profile may trail the sign-up by a moment.
	a.until("profile", call{as: ada, method: "GET", target: "/api/v1/users/me", status: 200}, func(r *client.Response) bool { return r.Status == 200 })
	a.do(call{as: ada, method: "PATCH", target: "/api/v1/users/me", body: map[string]string{"name": "Ada Lovelace"}, status: 200})
	a.do(call{as: ada, method: "PATCH", target: "/api/v1/users/me", body: map[string]string{"name": ""}, status: 400, breaksDoc: true})
	a.do(call{as: anon, method: "GET", target: "/api/v1/users/me", status: 401})

	// Catalog, search, recommendations, stock: public reads.
	first := decode[struct {
		NextCursor string `json:"next_cursor"`
	}](t, a.do(call{as: anon, method: "GET", target: "/api/v1/products?limit=2", status: 200}))
	if first.NextCursor == "" {
		t.Fatal("the sample catalog fits in one page of 2")
	}
	a.do(call{as: anon, method: "GET", target: "/api/v1/products?limit=2&cursor=" + url.QueryEscape(first.NextCursor), status: 200})
	a.do(call{as: anon, method: "GET", target: "/api/v1/products?limit=0", status: 400, breaksDoc: true})
	a.do(call{as: anon.WithToken("not-a-token"), method: "GET", target: "/api/v1/products", status: 401})
	page := decode[product](t, a.do(call{as: anon, method: "GET", target: "/api/v1/products/4521", status: 200}))
	if page.Stock == nil || page.Stock.Available != 12 {
		t.Errorf("product page 4521: %+v, want 12 in stock", page)
	}
	a.do(call{as: anon, method: "GET", target: "/api/v1/products/no-such-product", status: 404})
	a.do(call{as: anon, method: "GET", target: "/api/v1/search?q=coffee&limit=5", status: 200})
	a.do(call{as: anon, method: "GET", target: "/api/v1/search", status: 400, breaksDoc: true})
	a.do(call{as: anon, method: "GET", target: "/api/v1/recommendations/4521", status: 200})
	a.do(call{as: anon, method: "GET", target: "/api/v1/recommendations/4521?limit=21", status: 400, breaksDoc: true})
	a.do(call{as: anon, method: "GET", target: "/api/v1/inventory/4521", status: 200})
	a.do(call{as: anon, method: "GET", target: "/api/v1/inventory/no-such-product", status: 404})
	a.do(call{as: anon, method: "GET", target: "/api/v1/inventory/a,b", status: 400, breaksDoc: true})

	// Admin writes: a product of our own with 5 units.
	pid := fmt.Sprintf("oas_%d", time.Now().UnixNano())
	newProduct := map[string]any{"id": pid, "name": "OpenAPI mug", "description": "Holds\ncoffee.", "price_cents": 1250, "currency": "USD"}
	a.do(call{as: admin, method: "POST", target: "/api/v1/products", body: newProduct, status: 201})
	a.do(call{as: admin, method: "POST", target: "/api/v1/products", body: newProduct, status: 409})
	a.do(call{as: ada, method: "POST", target: "/api/v1/products", body: newProduct, status: 403})
	a.do(call{as: anon, method: "POST", target: "/api/v1/products", body: newProduct, status: 401})
	a.do(call{as: admin, method: "POST", target: "/api/v1/products", body: map[string]any{"name": "Free", "price_cents": 0, "currency": "usd"}, status: 400, breaksDoc: true})
	a.do(call{as: admin, method: "PUT", target: "/api/v1/products/" + pid, body: map[string]any{"name": "OpenAPI mug", "price_cents": 1300, "currency": "USD"}, status: 200})
	a.do(call{as: admin, method: "PUT", target: "/api/v1/products/no-such-product", body: map[string]any{"name": "x", "price_cents": 1, "currency": "USD"}, status: 404})
	a.do(call{as: admin, method: "PUT", target: "/api/v1/inventory/" + pid, body: map[string]int{"available": 5}, status: 200})
	a.do(call{as: ada, method: "PUT", target: "/api/v1/inventory/" + pid, body: map[string]int{"available": 500}, status: 403})
	a.do(call{as: admin, method: "PUT", target: "/api/v1/inventory/" + pid, body: map[string]int{"available": -1}, status: 400, breaksDoc: true})
	a.do(call{as: admin, method: "PUT", target: "/api/v1/inventory/" + pid, body: map[string]any{}, status: 400, breaksDoc: true})
	a.do(call{as: anon, method: "GET", target: "/api/v1/products/" + pid, status: 200})

	// Checkout: confirmed, replayed, key reused, declined, out of stock,
	// invalid, unknown product, no token.
	key := fmt.Sprintf("oas-%d", time.Now().UnixNano())
	placed := decode[order](t, a.do(call{as: ada, method: "POST", target: "/api/v1/orders", body: orderBody("4521", 2, goodCard), header: []string{"Idempotency-Key", key}, status: 201}))
	if placed.Status != "CONFIRMED" {
		t.Fatalf("order = %+v, want CONFIRMED", placed)
	}
	replay := decode[order](t, a.do(call{as: ada, method: "POST", target: "/api/v1/orders", body: orderBody("4521", 2, goodCard), header: []string{"Idempotency-Key", key}, status: 201}))
	if replay.ID != placed.ID {
		t.Errorf("replay answered order %s, want %s", replay.ID, placed.ID)
	}
	a.do(call{as: ada, method: "POST", target: "/api/v1/orders", body: orderBody("4521", 1, goodCard), header: []string{"Idempotency-Key", key}, status: 422})
	a.do(call{as: ada, method: "POST", target: "/api/v1/orders", body: orderBody("4521", 1, goodCard), header: []string{"Idempotency-Key", "has space"}, status: 400, breaksDoc: true})
	declined := map[string]any{"card_number": "4000000000000002", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
	a.do(call{as: ada, method: "POST", target: "/api/v1/orders", body: orderBody("4521", 1, declined), status: 402})
	a.do(call{as: ada, method: "POST", target: "/api/v1/orders", body: orderBody(pid, 6, goodCard), status: 409})
	a.do(call{as: ada, method: "POST", target: "/api/v1/orders", body: []byte(`{"items":"lots"}`), status: 400, breaksDoc: true})
	a.do(call{as: ada, method: "POST", target: "/api/v1/orders", body: orderBody("4521", 1, map[string]any{"card_number": "4242", "exp_month": 13, "exp_year": 2031, "cvc": "12"}), status: 400, breaksDoc: true})
	a.do(call{as: ada, method: "POST", target: "/api/v1/orders", body: orderBody("no-such-product", 1, goodCard), status: 400})
	a.do(call{as: anon, method: "POST", target: "/api/v1/orders", body: orderBody("4521", 1, goodCard), status: 401})

	// Reading orders.
	list := decode[struct {
		NextCursor string `json:"next_cursor"`
	}](t, a.do(call{as: ada, method: "GET", target: "/api/v1/orders?limit=1", status: 200}))
	if list.NextCursor != "" {
		a.do(call{as: ada, method: "GET", target: "/api/v1/orders?limit=1&cursor=" + url.QueryEscape(list.NextCursor), status: 200})
	}
	a.do(call{as: ada, method: "GET", target: "/api/v1/orders?all=true", status: 403})
	a.do(call{as: admin, method: "GET", target: "/api/v1/orders?all=true", status: 200})
	a.do(call{as: ada, method: "GET", target: "/api/v1/orders/" + placed.ID, status: 200})
	a.do(call{as: ada, method: "GET", target: "/api/v1/orders/" + placed.ID + "/history", status: 200})
	a.do(call{as: bob, method: "GET", target: "/api/v1/orders/" + placed.ID, status: 404})
	a.do(call{as: bob, method: "GET", target: "/api/v1/orders/" + placed.ID + "/history", status: 404})
	a.do(call{as: anon, method: "GET", target: "/api/v1/orders", status: 401})

	// What ORDER_PLACED sets off: the email and the warehouse task.
	a.until("confirmation email", call{as: ada, method: "GET", target: "/api/v1/notifications", status: 200}, func(r *client.Response) bool {
		return bytes.Contains(r.Body, []byte(`"order_confirmation"`))
	})
	a.do(call{as: ada, method: "GET", target: "/api/v1/notifications?limit=101", status: 400, breaksDoc: true})
	tasks := a.until("warehouse task", call{as: admin, method: "GET", target: "/api/v1/warehouse/tasks?order_id=" + placed.ID, status: 200}, func(r *client.Response) bool {
		return bytes.Contains(r.Body, []byte(placed.ID))
	})
	task := decode[struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}](t, tasks)
	if len(task.Items) != 1 {
		t.Fatalf("tasks of %s: %s", placed.ID, tasks.Body)
	}
	a.do(call{as: admin, method: "GET", target: "/api/v1/warehouse/tasks?status=pending&limit=100", status: 200})
	a.do(call{as: admin, method: "GET", target: "/api/v1/warehouse/tasks?status=lost", status: 400, breaksDoc: true})
	a.do(call{as: ada, method: "GET", target: "/api/v1/warehouse/tasks", status: 403})
	a.do(call{as: admin, method: "POST", target: "/api/v1/warehouse/tasks/" + task.Items[0].ID + "/ship", status: 200})
	a.do(call{as: admin, method: "POST", target: "/api/v1/warehouse/tasks/" + task.Items[0].ID + "/ship", status: 409})
	a.do(call{as: admin, method: "POST", target: "/api/v1/warehouse/tasks/no-such-task/ship", status: 404})
	a.do(call{as: ada, method: "POST", target: "/api/v1/warehouse/tasks/" + task.Items[0].ID + "/ship", status: 403})
	a.until("order shipped", call{as: ada, method: "GET", target: "/api/v1/orders/" + placed.ID, status: 200}, func(r *client.Response) bool {
		return bytes.Contains(r.Body, []byte(`"status":"SHIPPED"`))
	})
	a.until("shipping email", call{as: ada, method: "GET", target: "/api/v1/notifications", status: 200}, func(r *client.Response) bool {
		return bytes.Contains(r.Body, []byte(`"order_shipped"`))
	})
	a.do(call{as: ada, method: "GET", target: "/api/v1/orders/" + placed.ID + "/history", status: 200})

	// Administration.
	a.do(call{as: admin, method: "GET", target: "/api/v1/admin/status", status: 200})
	a.do(call{as: ada, method: "GET", target: "/api/v1/admin/status", status: 403})
	a.do(call{as: admin, method: "GET", target: "/api/v1/admin/dlq", status: 200})
	a.do(call{as: admin, method: "POST", target: "/api/v1/admin/dlq/redrive", body: map[string]int{"seq": 999999}, status: 404})
	a.do(call{as: admin, method: "POST", target: "/api/v1/admin/dlq/redrive", body: map[string]any{"sequence": 1}, status: 400, breaksDoc: true})
	a.do(call{as: admin, method: "POST", target: "/api/v1/admin/dlq/redrive", status: 200})
	for _, action := range []string{"kill", "stop", "start"} {
		a.do(call{as: admin, method: "POST", target: "/api/v1/admin/instances/no-such-1/" + action, status: 404})
	}
	a.do(call{as: ada, method: "POST", target: "/api/v1/admin/instances/order-1/kill", status: 403})
	for _, audit := range []string{"orders", "charges", "stock", "reservations", "notifications", "tasks"} {
		a.do(call{as: admin, method: "GET", target: "/api/v1/admin/audit/" + audit + "?limit=5000", status: 200})
		a.do(call{as: ada, method: "GET", target: "/api/v1/admin/audit/" + audit, status: 403})
	}
	a.do(call{as: admin, method: "GET", target: "/api/v1/admin/audit/orders?limit=0", status: 400, breaksDoc: true})
	a.do(call{as: admin, method: "POST", target: "/api/v1/admin/keys/rotate", status: 201})
	a.do(call{as: ada, method: "POST", target: "/api/v1/admin/keys/rotate", status: 403})

	// Every operation of the document was exercised.
	var missing, seen []string
	for _, op := range doc.Operations() {
		statuses := a.exercised[op]
		if len(statuses) == 0 {
			missing = append(missing, op.Method+" "+op.Path)
			continue
		}
		uniq := map[int]bool{}
		for _, s := range statuses {
			uniq[s] = true
		}
		var list []string
		for s := range uniq {
			list = append(list, fmt.Sprint(s))
		}
		sort.Strings(list)
		seen = append(seen, fmt.Sprintf("%s %s: %s", op.Method, op.Path, strings.Join(list, ",")))
	}
	t.Logf("operations and the statuses checked:\n  %s", strings.Join(seen, "\n  "))
	if len(missing) > 0 {
		t.Errorf("operations the flow never exercised (add them to the flow): %v", missing)
	}
}
