package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/tools/client"
)

// TestSecurity runs one system at debug level with a known service secret
// and checks, in order: that internal ports verify their callers, that
// users reach only their own data and customers no admin route, that a
// request id reaches every service and event the request caused, and last
// (it stops the system) that no card number, password or token was ever
// written to its data folder.
func TestSecurity(t *testing.T) {
	secret := newSecret()
	sys := start(t, nil, "SOUK_SERVICE_SECRET="+string(secret), "SOUK_LOG_LEVEL=debug")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ada := sys.user(ctx, "Ada")
	bob := sys.user(ctx, "Bob")
	tk := makeTokens(t, ada.Token(), sys.admin.Token(), secret)

	t.Run("internal ports verify the caller", func(t *testing.T) { testInternalPorts(t, ctx, sys, ada, tk) })
	t.Run("authorization", func(t *testing.T) { testAuthorization(t, ctx, sys, ada, bob) })
	t.Run("request id", func(t *testing.T) { testRequestID(t, ctx, sys, ada) })
	t.Run("secrets never stored", func(t *testing.T) { testSecrets(t, ctx, sys) })
}

// testInternalPorts calls service instances directly, as an attacker who
// reached the internal network would: without a token, with a customer's,
// with a service token signed by another secret. The valid service token
// is the control that shows the calls reach the handlers.
func testInternalPorts(t *testing.T, ctx context.Context, sys *system, ada *client.Client, tk tokens) {
	doc := sys.status()
	addr := func(service string) string {
		t.Helper()
		ins := doc.Services[service].Instances
		if len(ins) == 0 {
			t.Fatalf("no %s instance in souk status", service)
		}
		host, _, err := net.SplitHostPort(ins[0].Addr)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			t.Errorf("%s listens on %q, want a loopback address", service, ins[0].Addr)
		}
		return ins[0].Addr
	}
	var me struct {
		ID string `json:"id"`
	}
	if _, err := ada.Get(ctx, "/api/v1/users/me", &me); err != nil {
		t.Fatal(err)
	}
	charge := []byte(`{"order_id":"o-direct","amount_cents":100,"currency":"USD","card":{"card_number":"4242424242424242","exp_month":12,"exp_year":2031,"cvc":"123"}}`)
	reserve := []byte(`{"order_id":"o-direct","items":[{"product_id":"4521","quantity":12}]}`)
	cases := []struct {
		name    string
		service string
		req     rawReq
		status  int
		code    string
	}{
		{"order list without a token", "order", rawReq{method: "GET", path: "/api/v1/orders"}, 401, "unauthorized"},
		{"order list with a service token (not a user)", "order", rawReq{method: "GET", path: "/api/v1/orders", token: tk.validService}, 401, "unauthorized"},
		{"order audit as a customer", "order", rawReq{method: "GET", path: "/internal/audit/orders", token: tk.ada}, 403, "forbidden"},
		{"order audit with a forged service token", "order", rawReq{method: "GET", path: "/internal/audit/orders", token: tk.forgedService}, 401, "invalid_token"},
		{"order audit with alg none", "order", rawReq{method: "GET", path: "/internal/audit/orders", token: tk.none}, 401, "invalid_token"},
		{"charge without a token", "payment", rawReq{method: "POST", path: "/internal/charges", body: charge}, 401, "unauthorized"},
		{"charge as a customer", "payment", rawReq{method: "POST", path: "/internal/charges", token: tk.ada, body: charge}, 403, "forbidden"},
		{"charge as an admin", "payment", rawReq{method: "POST", path: "/internal/charges", token: tk.admin, body: charge}, 403, "forbidden"},
		{"charge with a forged service token", "payment", rawReq{method: "POST", path: "/internal/charges", token: tk.forgedService, body: charge}, 401, "invalid_token"},
		{"charge with an expired service token", "payment", rawReq{method: "POST", path: "/internal/charges", token: tk.expiredService, body: charge}, 401, "token_expired"},
		{"void as a customer", "payment", rawReq{method: "POST", path: "/internal/charges/o-direct/void", token: tk.ada}, 403, "forbidden"},
		{"reserve without a token", "inventory", rawReq{method: "POST", path: "/internal/reservations", body: reserve}, 401, "unauthorized"},
		{"reserve as a customer", "inventory", rawReq{method: "POST", path: "/internal/reservations", token: tk.ada, body: reserve}, 403, "forbidden"},
		{"set stock as a customer", "inventory", rawReq{method: "PUT", path: "/api/v1/inventory/4521", token: tk.ada, body: []byte(`{"available":0}`)}, 403, "forbidden"},
		{"set stock without a token", "inventory", rawReq{method: "PUT", path: "/api/v1/inventory/4521", body: []byte(`{"available":0}`)}, 401, "unauthorized"},
		{"create a product as a customer", "catalog", rawReq{method: "POST", path: "/api/v1/products", token: tk.ada, body: []byte(`{"name":"x","price_cents":1,"currency":"USD"}`)}, 403, "forbidden"},
		{"profile lookup as a customer", "user", rawReq{method: "GET", path: "/internal/users/" + me.ID, token: tk.ada}, 403, "forbidden"},
		{"account lookup without a token", "auth", rawReq{method: "GET", path: "/internal/users/" + me.ID}, 401, "unauthorized"},
		{"rotate keys as a customer", "auth", rawReq{method: "POST", path: "/api/v1/admin/keys/rotate", token: tk.ada}, 403, "forbidden"},
		{"notification audit as a customer", "notification", rawReq{method: "GET", path: "/internal/audit/notifications", token: tk.ada}, 403, "forbidden"},
		{"warehouse tasks as a customer", "warehouse", rawReq{method: "GET", path: "/api/v1/warehouse/tasks", token: tk.ada}, 403, "forbidden"},
		{"unknown internal route", "order", rawReq{method: "GET", path: "/internal/nothing", token: tk.validService}, 404, "not_found"},
		// Controls: the right credentials pass the same checks.
		{"order audit with a valid service token", "order", rawReq{method: "GET", path: "/internal/audit/orders", token: tk.validService}, 200, ""},
		{"charge with a valid service token, bad body", "payment", rawReq{method: "POST", path: "/internal/charges", token: tk.validService, body: []byte(`{}`)}, 400, "invalid"},
	}
	for _, c := range cases {
		resp, err := c.req.do(addr(c.service))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if resp.status < 400 {
			if resp.status != c.status {
				t.Errorf("%s: %d, want %d (%s)", c.name, resp.status, c.status, clip(resp.body))
			}
			continue
		}
		checkProblemResp(t, c.name, resp, c.status, c.code)
		if resp.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", c.name)
		}
	}
	// Nothing above reached the money or the stock.
	if got := stockOf(t, ctx, client.New(sys.URL), "4521"); got != 12 {
		t.Errorf("stock of 4521 = %d after the direct calls, want 12", got)
	}
}

// testAuthorization: another user's order, history and notifications are
// invisible (404, or absent from lists); customers get 403 on every admin
// route and anonymous callers 401.
func testAuthorization(t *testing.T, ctx context.Context, sys *system, ada, bob *client.Client) {
	var o order
	if _, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4502", 1, goodCard), &o); err != nil || o.Status != "CONFIRMED" {
		t.Fatalf("ada's order: %v %+v", err, o)
	}
	for _, path := range []string{"/api/v1/orders/" + o.ID, "/api/v1/orders/" + o.ID + "/history"} {
		if _, err := bob.Get(ctx, path, nil); !isProblem(err, 404, "not_found") {
			t.Errorf("bob GET %s: %v, want 404 not_found", path, err)
		}
		if _, err := ada.Get(ctx, path, nil); err != nil {
			t.Errorf("ada GET %s: %v", path, err)
		}
		if _, err := sys.admin.Get(ctx, path, nil); err != nil {
			t.Errorf("admin GET %s: %v", path, err)
		}
	}
	// A 404 for another's order must not differ from one for no order.
	_, errOther := bob.Get(ctx, "/api/v1/orders/"+o.ID, nil)
	_, errNone := bob.Get(ctx, "/api/v1/orders/00000000-0000-7000-8000-000000000000", nil)
	if a, b := problemOf(errOther), problemOf(errNone); a.Status != b.Status || a.Code != b.Code || a.Title != b.Title || a.Status == 0 {
		t.Errorf("another's order %+v differs from a missing one %+v", a, b)
	}
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if _, err := bob.Get(ctx, "/api/v1/orders", &list); err != nil {
		t.Fatal(err)
	}
	for _, it := range list.Items {
		if it.ID == o.ID {
			t.Errorf("ada's order %s in bob's list", o.ID)
		}
	}
	var mail struct {
		Items []struct {
			OrderID string `json:"order_id"`
			To      string `json:"to"`
		} `json:"items"`
	}
	eventually(t, 10*time.Second, "ada's confirmation email", func() error {
		if _, err := ada.Get(ctx, "/api/v1/notifications", &mail); err != nil {
			return err
		}
		for _, m := range mail.Items {
			if m.OrderID == o.ID {
				return nil
			}
		}
		return fmt.Errorf("ada's messages: %+v", mail.Items)
	})
	var bobMe struct {
		Email string `json:"email"`
	}
	if _, err := bob.Get(ctx, "/api/v1/users/me", &bobMe); err != nil {
		t.Fatal(err)
	}
	mail.Items = nil
	if _, err := bob.Get(ctx, "/api/v1/notifications", &mail); err != nil {
		t.Fatal(err)
	}
	for _, m := range mail.Items {
		if m.OrderID == o.ID || m.To != bobMe.Email {
			t.Errorf("bob's notifications hold %+v", m)
		}
	}

	admin := []struct{ method, path string }{
		{"POST", "/api/v1/products"},
		{"PUT", "/api/v1/products/4521"},
		{"PUT", "/api/v1/inventory/4521"},
		{"GET", "/api/v1/warehouse/tasks"},
		{"POST", "/api/v1/warehouse/tasks/x/ship"},
		{"GET", "/api/v1/admin/status"},
		{"GET", "/api/v1/admin/dlq"},
		{"POST", "/api/v1/admin/dlq/redrive"},
		{"GET", "/api/v1/admin/audit/orders"},
		{"GET", "/api/v1/admin/audit/charges"},
		{"POST", "/api/v1/admin/keys/rotate"},
		{"POST", "/api/v1/admin/instances/order-1/stop"},
	}
	anon := client.New(sys.URL)
	for _, r := range admin {
		var body any
		if r.method != "GET" {
			body = map[string]any{}
		}
		if _, err := ada.JSON(ctx, r.method, r.path, body, nil); !isProblem(err, 403, "forbidden") {
			t.Errorf("customer %s %s: %v, want 403 forbidden", r.method, r.path, err)
		}
		if _, err := anon.JSON(ctx, r.method, r.path, body, nil); !isProblem(err, 401, "unauthorized") {
			t.Errorf("anonymous %s %s: %v, want 401 unauthorized", r.method, r.path, err)
		}
	}
	if _, err := sys.admin.Get(ctx, "/api/v1/admin/status", nil); err != nil {
		t.Errorf("admin GET /api/v1/admin/status: %v", err)
	}
}

func problemOf(err error) fault.Problem {
	if e, ok := err.(*client.APIError); ok {
		return e.Problem
	}
	return fault.Problem{}
}

// testRequestID sends an order with a chosen X-Request-Id and finds it in
// the logs of every service the order touched, and of the consumers of
// the events it caused.
func testRequestID(t *testing.T, ctx context.Context, sys *system, ada *client.Client) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "e2e-trace-" + hex.EncodeToString(b[:])
	resp, err := ada.Do(ctx, "POST", "/api/v1/orders", orderBody("4502", 1, goodCard), "X-Request-Id", id)
	if err != nil || resp.Status != http.StatusCreated {
		t.Fatalf("order: %v %+v", err, resp)
	}
	if got := resp.Header.Get("X-Request-Id"); got != id {
		t.Errorf("echoed request id %q, want %q", got, id)
	}
	var o order
	if err := json.Unmarshal(resp.Body, &o); err != nil {
		t.Fatal(err)
	}
	var p struct {
		RequestID string `json:"request_id"`
	}
	r2, err := ada.Do(ctx, "POST", "/api/v1/orders", []byte(`{"items":[]}`), "X-Request-Id", id+"-bad")
	if err == nil && json.Unmarshal(r2.Body, &p) == nil && p.RequestID != id+"-bad" {
		t.Errorf("a problem's request_id = %q, want %q", p.RequestID, id+"-bad")
	}
	// Synchronous calls: the gateway, the order service and the two it
	// calls. Events: the consumers of ORDER_PLACED.
	want := []string{"gateway-1", "order-1", "inventory-1", "payment-1", "notification-1", "warehouse-1"}
	eventually(t, 10*time.Second, "the request id in every log", func() error {
		var missing []string
		for _, inst := range want {
			data, err := os.ReadFile(filepath.Join(sys.Data, "logs", inst+".log"))
			if err != nil || !bytes.Contains(data, []byte(`"request_id":"`+id+`"`)) {
				missing = append(missing, inst)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s not in the logs of %v", id, missing)
		}
		return nil
	})
	// The event consumers log it with the event they handled.
	for _, inst := range []string{"notification-1", "warehouse-1"} {
		data, _ := os.ReadFile(filepath.Join(sys.Data, "logs", inst+".log"))
		found := false
		for _, line := range bytes.Split(data, []byte("\n")) {
			if bytes.Contains(line, []byte(id)) && bytes.Contains(line, []byte(`"ORDER_PLACED"`)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s logged no ORDER_PLACED line with request id %s", inst, id)
		}
	}
}

// testSecrets checks out with a distinctive password and card, logs in
// once with a wrong password, then stops the system and reads every byte
// of its data folder (databases and their WAL, logs, the broker's store):
// the card numbers, the passwords and the access token must appear
// nowhere; only last4 may. The email and the order id must appear, which
// shows the walk reads what it should.
func testSecrets(t *testing.T, ctx context.Context, sys *system) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	password := "Quokka-Zebra-" + hex.EncodeToString(b[:])
	wrong := "Wrong-Zebra-" + hex.EncodeToString(b[:])
	email := "secret-" + hex.EncodeToString(b[:]) + "@example.com"
	anon := client.New(sys.URL)
	if _, err := anon.JSON(ctx, "POST", "/api/v1/auth/signup", map[string]string{"email": email, "password": password, "name": "Sec Ret"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Login(ctx, email, wrong); !isStatus(err, 401) {
		t.Errorf("login with a wrong password: %v, want 401", err)
	}
	u, err := anon.Login(ctx, email, password)
	if err != nil {
		t.Fatal(err)
	}
	const card, declinedCard = "4111111111111111", "4000000000000002"
	var o order
	if _, err := u.JSON(ctx, "POST", "/api/v1/orders", orderBody("4502", 1, map[string]any{"card_number": card, "exp_month": 11, "exp_year": 2032, "cvc": "987"}), &o); err != nil || o.Status != "CONFIRMED" {
		t.Fatalf("order: %v %+v", err, o)
	}
	if _, err := u.JSON(ctx, "POST", "/api/v1/orders", orderBody("4502", 1, map[string]any{"card_number": declinedCard, "exp_month": 11, "exp_year": 2032, "cvc": "987"}), nil); !isProblem(err, 402, "payment_declined") {
		t.Errorf("declined order: %v", err)
	}
	eventually(t, 10*time.Second, "the confirmation email", func() error {
		var mail struct {
			Items []struct {
				OrderID string `json:"order_id"`
			} `json:"items"`
		}
		if _, err := u.Get(ctx, "/api/v1/notifications", &mail); err != nil {
			return err
		}
		if len(mail.Items) == 0 {
			return fmt.Errorf("no message yet")
		}
		return nil
	})
	if _, err := u.Get(ctx, "/api/v1/users/me", nil); err != nil {
		t.Fatal(err)
	}
	token := u.Token()
	signature := token[strings.LastIndex(token, ".")+1:]
	sys.stop() // flush logs, close databases

	secrets := map[string]string{
		"card number": card, "declined card number": declinedCard, "password": password, "wrong password": wrong,
		"access token": token, "access token signature": signature,
	}
	found := map[string][]string{}
	seen := map[string]bool{}
	files := 0
	err = filepath.WalkDir(sys.Data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(sys.Data, path)
		for what, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				found[what] = append(found[what], rel)
			}
		}
		if bytes.Contains(data, []byte(email)) {
			seen["email in "+strings.Split(rel, string(filepath.Separator))[0]] = true
		}
		if bytes.Contains(data, []byte(o.ID)) {
			seen["order id in "+strings.Split(rel, string(filepath.Separator))[0]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for what, where := range found {
		slices.Sort(where)
		t.Errorf("the %s was written to %v", what, where)
	}
	for what, s := range secrets {
		if strings.Contains(sys.out.String(), s) {
			t.Errorf("the %s is on souk up's output", what)
		}
	}
	// The controls: the walk read databases, logs and the broker's store.
	for _, want := range []string{"order id in logs", "order id in nats"} {
		if !seen[want] {
			t.Errorf("control failed: no %s (saw %v): the walk may not read what it should", want, seen)
		}
	}
	dbSeen := false
	for k := range seen {
		dbSeen = dbSeen || (strings.HasPrefix(k, "email in ") && k != "email in logs" && k != "email in nats")
	}
	if !dbSeen {
		t.Errorf("control failed: the email is in no database (saw %v)", seen)
	}
	t.Logf("%d files read; controls %v", files, seen)
}

// TestAggregationDegrades takes the parts of a product page away one by
// one: without recommendations, then without stock, the page is still 200
// with the missing parts named in "degraded"; without the catalog (the
// product itself) it is a 503 problem. A second system makes the
// recommendation service slow instead of dead: the page still answers
// within its deadline, degraded.
func TestAggregationDegrades(t *testing.T) {
	sys := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	anon := client.New(sys.URL)
	page := func() (map[string]json.RawMessage, product, error) {
		var raw map[string]json.RawMessage
		body, err := anon.Get(ctx, "/api/v1/products/4521", &raw)
		var p product
		if err == nil {
			err = json.Unmarshal(body, &p)
		}
		return raw, p, err
	}
	_, p, err := page()
	if err != nil || p.Stock == nil || len(p.Degraded) != 0 {
		t.Fatalf("full page: %v %+v", err, p)
	}
	gone := func(service string) {
		t.Helper()
		sys.instance(ctx, service+"-1", "stop")
		eventually(t, 10*time.Second, service+" gone from the registry", func() error {
			if n := len(sys.status().Services[service].Instances); n != 0 {
				return fmt.Errorf("%d %s instances listed", n, service)
			}
			return nil
		})
	}

	gone("recommendation")
	_, p, err = page()
	if err != nil || p.Stock == nil || p.Stock.Available != 12 || !slices.Equal(p.Degraded, []string{"recommendations"}) {
		t.Errorf("without recommendations: %v %+v, want 200 with stock and degraded [recommendations]", err, p)
	}

	gone("inventory")
	raw, p, err := page()
	if err != nil || string(raw["stock"]) != "null" || !slices.Contains(p.Degraded, "stock") || p.PriceCents != 4999 {
		t.Errorf("without inventory: %v %s, want 200 with \"stock\": null and degraded holding stock", err, mustJSON(raw))
	}

	gone("catalog")
	if _, _, err := page(); !isProblem(err, 503, "unavailable") {
		t.Errorf("without the catalog: %v, want 503 unavailable", err)
	}

	t.Run("slow part", func(t *testing.T) {
		slow := start(t, nil, "SOUK_FAULT=recommendation.after GET /api/v1/recommendations/{product_id}=delay:2s")
		c := client.New(slow.URL)
		for i := range 3 {
			began := time.Now()
			var p product
			_, err := c.Get(ctx, "/api/v1/products/4521", &p)
			took := time.Since(began)
			if err != nil || p.Stock == nil || !slices.Equal(p.Degraded, []string{"recommendations"}) {
				t.Errorf("page %d with slow recommendations: %v %+v, want 200 degraded [recommendations]", i, err, p)
			}
			t.Logf("page %d with a 2s recommendation delay took %v", i, took)
			if took > 1200*time.Millisecond {
				t.Errorf("page %d took %v, want about the 800ms page deadline", i, took)
			}
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
