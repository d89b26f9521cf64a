package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/telemetry"
	"github.com/souk/souk/tools/client"
)

// rawReq is one HTTP request written byte for byte, so that a test can
// send what no well-behaved client would: unnormalised paths, huge
// headers, bodies the server refuses before reading them.
type rawReq struct {
	method, path string
	token        string   // bearer token; "" for none
	ctype        string   // Content-Type; default application/json when body is set
	headers      []string // extra name, value pairs
	body         []byte
}

type rawResp struct {
	status int
	header http.Header
	body   []byte
}

// do sends r to addr (host:port) on a fresh connection and reads the
// answer. The body is written concurrently with reading, because a server
// may answer (413, 431) and close before reading it all.
func (r rawReq) do(addr string) (*rawResp, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", r.method, r.path, addr)
	if r.token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", r.token)
	}
	ctype := r.ctype
	if ctype == "" && r.body != nil {
		ctype = "application/json"
	}
	if ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
	}
	for i := 0; i+1 < len(r.headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", r.headers[i], r.headers[i+1])
	}
	if r.body != nil || r.method == "POST" || r.method == "PUT" || r.method == "PATCH" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	go func() { _, _ = conn.Write(b.Bytes()) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && len(data) == 0 {
		return nil, err
	}
	return &rawResp{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// tokens are the credentials the hostile table presents.
type tokens struct {
	ada, admin                     string
	none, otherKey, expiredService string
	validService, forgedService    string
	garbage                        string
	secret                         []byte
}

// makeTokens builds, next to ada's and the admin's real tokens, the forged
// and misused ones: alg none, signed by another key under the real key id,
// service tokens valid, expired and signed with a wrong secret.
func makeTokens(t *testing.T, ada, admin string, secret []byte) tokens {
	t.Helper()
	tk := tokens{ada: ada, admin: admin, secret: secret}
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(ada, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hdr, &h); err != nil || h.Kid == "" {
		t.Fatalf("ada's token header %s: %v", hdr, err)
	}
	now := time.Now()
	claims := strings.Split(ada, ".")[1]
	tk.none = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + claims + "."
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if tk.otherKey, err = authn.SignUser(authn.SigningKey{ID: h.Kid, Private: other}, "u-forged", "eve@example.com", "Eve", authn.RoleAdmin, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if tk.expiredService, err = authn.SignService(secret, "order", now.Add(-time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if tk.validService, err = authn.SignService(secret, "order", now, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if tk.forgedService, err = authn.SignService([]byte("not-the-cluster-secret-0123456789"), "order", now, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	tk.garbage = "abc.def.ghi"
	return tk
}

// newSecret returns a random service secret for SOUK_SERVICE_SECRET, so a
// test can mint service tokens the system accepts.
func newSecret() []byte {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}

// checkProblemResp fails unless resp is problem+json with a code and the
// given status (and code, when not empty).
func checkProblemResp(t *testing.T, what string, resp *rawResp, status int, code string) {
	t.Helper()
	if resp.status != status {
		t.Errorf("%s: status %d, want %d (%s)", what, resp.status, status, clip(resp.body))
		return
	}
	if ct := resp.header.Get("Content-Type"); ct != fault.ContentType {
		t.Errorf("%s: content type %q, want %s (%s)", what, ct, fault.ContentType, clip(resp.body))
		return
	}
	var p fault.Problem
	if err := json.Unmarshal(resp.body, &p); err != nil || p.Code == "" || p.Status != status {
		t.Errorf("%s: problem %s: %v", what, clip(resp.body), err)
		return
	}
	if code != "" && p.Code != code {
		t.Errorf("%s: code %q, want %q (%s)", what, p.Code, code, p.Detail)
	}
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// TestHostileRequests sends a table of malformed, oversized, mistyped,
// forged and injection-like requests through the gateway of a real system:
// each gets the 4xx it deserves as problem+json with a code, never a 5xx,
// every answer carries nosniff, and afterwards the system is healthy and a
// normal order succeeds.
func TestHostileRequests(t *testing.T) {
	secret := newSecret()
	sys := start(t, nil, "SOUK_SERVICE_SECRET="+string(secret))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr := strings.TrimPrefix(sys.URL, "http://")
	ada := sys.user(ctx, "Ada")
	tk := makeTokens(t, ada.Token(), sys.admin.Token(), secret)

	card := `"payment":{"card_number":"4242424242424242","exp_month":12,"exp_year":2031,"cvc":"123"}`
	orderWith := func(items string) []byte { return []byte(`{"items":` + items + `,` + card + `}`) }
	line := func(id, qty string) string { return `[{"product_id":` + id + `,"quantity":` + qty + `}]` }
	valid := orderWith(line(`"4521"`, "1"))
	fifty1 := "[" + strings.TrimSuffix(strings.Repeat(`{"product_id":"4521","quantity":1},`, 51), ",") + "]"
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	big := func(n int) string { return strings.Repeat("x", n) }

	type tc struct {
		name   string
		req    rawReq
		status int
		code   string // "" = any code
	}
	post := func(path, token string, body []byte) rawReq {
		return rawReq{method: "POST", path: path, token: token, body: body}
	}
	get := func(path, token string) rawReq { return rawReq{method: "GET", path: path, token: token} }
	cases := []tc{
		// Malformed bodies.
		{"malformed JSON", post("/api/v1/orders", tk.ada, []byte(`{"items":[`)), 400, "invalid"},
		{"truncated", post("/api/v1/orders", tk.ada, valid[:len(valid)-20]), 400, "invalid"},
		{"trailing garbage", post("/api/v1/orders", tk.ada, append(append([]byte{}, valid...), "garbage"...)), 400, "invalid"},
		{"two JSON values", post("/api/v1/orders", tk.ada, append(append([]byte{}, valid...), valid...)), 400, "invalid"},
		{"empty body", post("/api/v1/orders", tk.ada, []byte{}), 400, "invalid"},
		{"null body", post("/api/v1/orders", tk.ada, []byte(`null`)), 400, "invalid"},
		{"array body", post("/api/v1/orders", tk.ada, []byte(`[]`)), 400, "invalid"},
		{"5000-deep nesting", post("/api/v1/orders", tk.ada, []byte(deep)), 400, "invalid"},
		{"raw NUL byte in a string", post("/api/v1/orders", tk.ada, orderWith(line("\"45\x0021\"", "1"))), 400, "invalid"},
		{"invalid UTF-8", post("/api/v1/orders", tk.ada, orderWith(line("\"\xff\xfe\"", "1"))), 400, "invalid"},
		{"text/plain body", rawReq{method: "POST", path: "/api/v1/orders", token: tk.ada, ctype: "text/plain", body: valid}, 400, "unsupported_media_type"},
		{"XML body", rawReq{method: "POST", path: "/api/v1/orders", token: tk.ada, ctype: "application/xml", body: []byte(`<order/>`)}, 400, "unsupported_media_type"},
		// Wrong types.
		{"quantity as a string", post("/api/v1/orders", tk.ada, orderWith(line(`"4521"`, `"2"`))), 400, "invalid"},
		{"items as an object", post("/api/v1/orders", tk.ada, orderWith(`{}`)), 400, "invalid"},
		{"items as a string", post("/api/v1/orders", tk.ada, orderWith(`"lots"`)), 400, "invalid"},
		{"product id as a number", post("/api/v1/orders", tk.ada, orderWith(line(`4521`, "1"))), 400, "invalid"},
		{"card number as a number", post("/api/v1/orders", tk.ada, []byte(`{"items":`+line(`"4521"`, "1")+`,"payment":{"card_number":4242424242424242,"exp_month":12,"exp_year":2031,"cvc":"123"}}`)), 400, "invalid"},
		{"quantity 1.5", post("/api/v1/orders", tk.ada, orderWith(line(`"4521"`, "1.5"))), 400, "invalid"},
		// Quantities.
		{"negative quantity", post("/api/v1/orders", tk.ada, orderWith(line(`"4521"`, "-1"))), 400, "invalid"},
		{"zero quantity", post("/api/v1/orders", tk.ada, orderWith(line(`"4521"`, "0"))), 400, "invalid"},
		{"quantity 1001", post("/api/v1/orders", tk.ada, orderWith(line(`"4521"`, "1001"))), 400, "invalid"},
		{"quantity 1e30", post("/api/v1/orders", tk.ada, orderWith(line(`"4521"`, "1e30"))), 400, "invalid"},
		{"quantity 2^63", post("/api/v1/orders", tk.ada, orderWith(line(`"4521"`, "9223372036854775808"))), 400, "invalid"},
		{"quantity -2^63", post("/api/v1/orders", tk.ada, orderWith(line(`"4521"`, "-9223372036854775808"))), 400, "invalid"},
		{"exp_year 2^63", post("/api/v1/orders", tk.ada, []byte(`{"items":`+line(`"4521"`, "1")+`,"payment":{"card_number":"4242424242424242","exp_month":12,"exp_year":9223372036854775808,"cvc":"123"}}`)), 400, "invalid"},
		// Items.
		{"empty items", post("/api/v1/orders", tk.ada, orderWith(`[]`)), 400, "invalid"},
		{"null items", post("/api/v1/orders", tk.ada, orderWith(`null`)), 400, "invalid"},
		{"51 items", post("/api/v1/orders", tk.ada, orderWith(fifty1)), 400, "invalid"},
		{"unknown product", post("/api/v1/orders", tk.ada, orderWith(line(`"no-such-product"`, "1"))), 400, "unknown_product"},
		{"SQL injection in a product id", post("/api/v1/orders", tk.ada, orderWith(line(`"' OR 1=1 --"`, "1"))), 400, "invalid"},
		{"SQL injection without spaces", post("/api/v1/orders", tk.ada, orderWith(line(`"4521'--"`, "1"))), 400, "unknown_product"},
		{"path traversal in a product id", post("/api/v1/orders", tk.ada, orderWith(line(`"../../internal"`, "1"))), 400, "unknown_product"},
		{"emoji product id", post("/api/v1/orders", tk.ada, orderWith(line(`"☕🍵"`, "1"))), 400, "invalid"},
		{"escaped NUL in a product id", post("/api/v1/orders", tk.ada, orderWith(line(`"45\u000021"`, "1"))), 400, "invalid"},
		{"10 KB product id", post("/api/v1/orders", tk.ada, orderWith(line(`"`+big(10<<10)+`"`, "1"))), 400, "invalid"},
		{"unknown field", post("/api/v1/orders", tk.ada, []byte(`{"items":`+line(`"4521"`, "1")+`,`+card+`,"status":"CONFIRMED"}`)), 400, "invalid"},
		{"duplicate key", post("/api/v1/orders", tk.ada, []byte(`{"items":`+line(`"4521"`, "1")+`,"items":`+line(`"4521"`, "2")+`,`+card+`}`)), 400, "invalid"},
		{"duplicate key by case", post("/api/v1/orders", tk.ada, []byte(`{"items":`+line(`"4521"`, "1")+`,"ITEMS":`+line(`"4521"`, "2")+`,`+card+`}`)), 400, "invalid"},
		{"bad card number", post("/api/v1/orders", tk.ada, []byte(`{"items":`+line(`"4521"`, "1")+`,"payment":{"card_number":"4242424242424241","exp_month":12,"exp_year":2031,"cvc":"123"}}`)), 400, "invalid"},
		{"expired card", post("/api/v1/orders", tk.ada, []byte(`{"items":`+line(`"4521"`, "1")+`,"payment":{"card_number":"4242424242424242","exp_month":1,"exp_year":2001,"cvc":"123"}}`)), 400, "invalid"},
		{"no payment", post("/api/v1/orders", tk.ada, []byte(`{"items":`+line(`"4521"`, "1")+`}`)), 400, "invalid"},
		{"Idempotency-Key of 201 characters", rawReq{method: "POST", path: "/api/v1/orders", token: tk.ada, body: valid, headers: []string{"Idempotency-Key", big(201)}}, 400, "invalid"},
		{"Idempotency-Key with spaces", rawReq{method: "POST", path: "/api/v1/orders", token: tk.ada, body: valid, headers: []string{"Idempotency-Key", "a key"}}, 400, "invalid"},
		// Sizes.
		{"100 KB body (the service's 64 KiB limit)", post("/api/v1/orders", tk.ada, []byte(`{"items":[],"note":"`+big(100<<10)+`"}`)), 413, "too_large"},
		{"2 MB body (the gateway's 1 MiB limit)", post("/api/v1/orders", tk.ada, []byte(`{"items":[],"note":"`+big(2<<20)+`"}`)), 413, "too_large"},
		{"100 KB header", rawReq{method: "GET", path: "/api/v1/products", headers: []string{"X-Padding", big(100 << 10)}}, 431, "headers_too_large"},
		// Sign-up and login.
		{"signup 10 KB name", post("/api/v1/auth/signup", "", []byte(`{"email":"long@example.com","password":"correct horse battery","name":"`+big(10<<10)+`"}`)), 400, "invalid"},
		{"signup NUL in name", post("/api/v1/auth/signup", "", []byte(`{"email":"nul@example.com","password":"correct horse battery","name":"Ada\u0000"}`)), 400, "invalid"},
		{"signup header injection in email", post("/api/v1/auth/signup", "", []byte(`{"email":"a@example.com\r\nBcc: eve@example.com","password":"correct horse battery","name":"Ada"}`)), 400, "invalid"},
		{"signup role field", post("/api/v1/auth/signup", "", []byte(`{"email":"role@example.com","password":"correct horse battery","name":"Ada","role":"admin"}`)), 400, "invalid"},
		{"signup short password", post("/api/v1/auth/signup", "", []byte(`{"email":"short@example.com","password":"x","name":"Ada"}`)), 400, "invalid"},
		{"login wrong types", post("/api/v1/auth/login", "", []byte(`{"email":["a"],"password":{}}`)), 400, "invalid"},
		{"login SQL injection", post("/api/v1/auth/login", "", []byte(`{"email":"' OR 1=1 --","password":"' OR '1'='1"}`)), 401, ""},
		// Tokens.
		{"no token", get("/api/v1/orders", ""), 401, "unauthorized"},
		{"Basic credentials", rawReq{method: "GET", path: "/api/v1/orders", headers: []string{"Authorization", "Basic YWRhOnB3"}}, 401, "unauthorized"},
		{"alg none token", get("/api/v1/orders", tk.none), 401, "invalid_token"},
		{"token signed by another key", get("/api/v1/orders", tk.otherKey), 401, "invalid_token"},
		{"expired token", get("/api/v1/orders", tk.expiredService), 401, "token_expired"},
		{"garbage token", get("/api/v1/orders", tk.garbage), 401, "invalid_token"},
		{"5000-character token", get("/api/v1/orders", big(5000)), 401, "invalid_token"},
		{"service token at the gateway", get("/api/v1/orders", tk.validService), 403, "forbidden"},
		{"forged service token", get("/api/v1/orders", tk.forgedService), 401, "invalid_token"},
		// Methods, paths and queries.
		{"DELETE /api/v1/products", rawReq{method: "DELETE", path: "/api/v1/products"}, 405, "method_not_allowed"},
		{"PATCH /api/v1/orders", rawReq{method: "PATCH", path: "/api/v1/orders", token: tk.ada, body: valid}, 405, "method_not_allowed"},
		{"unknown path", get("/api/v1/nothing-here", ""), 404, "not_found"},
		{"internal path through the gateway", get("/internal/audit/orders", tk.admin), 404, "not_found"},
		{"encoded traversal to internal", get("/api/v1/orders/..%2f..%2finternal", tk.ada), 404, "not_found"},
		{"raw traversal to internal", get("/api/v1/orders/../../internal/audit/orders", tk.admin), 404, "not_found"},
		{"traversal through an admin rewrite", get("/api/v1/admin/audit/orders/../../../internal/charges", tk.admin), 404, "not_found"},
		{"encoded traversal in a product page", get("/api/v1/products/%2e%2e%2f%2e%2e%2finternal", ""), 404, "not_found"},
		{"SQL injection in a product page", get("/api/v1/products/'%20OR%201=1%20--", ""), 404, "not_found"},
		{"10 KB product id in a page", get("/api/v1/products/"+big(10<<10), ""), 404, "not_found"},
		{"too deep order path", get("/api/v1/orders/a/b/c", tk.ada), 404, "not_found"},
		{"another's order id that is SQL", get("/api/v1/orders/'%20OR%20'1'='1", tk.ada), 404, "not_found"},
		{"huge limit on products", get("/api/v1/products?limit=99999999999", ""), 400, "invalid"},
		{"negative limit on products", get("/api/v1/products?limit=-1", ""), 400, "invalid"},
		{"bad cursor on products", get("/api/v1/products?cursor=%27%20OR%201%3D1", ""), 400, "invalid"},
		{"huge limit on orders", get("/api/v1/orders?limit=99999999999", tk.ada), 400, "invalid"},
		{"bad cursor on orders", get("/api/v1/orders?cursor=!!!not-a-cursor", tk.ada), 400, "invalid"},
		{"all orders as a customer", get("/api/v1/orders?all=true", tk.ada), 403, "forbidden"},
		{"bad cursor on notifications", get("/api/v1/notifications?cursor=x", tk.ada), 400, "invalid"},
		{"huge limit on notifications", get("/api/v1/notifications?limit=99999999999", tk.ada), 400, "invalid"},
		{"huge limit on search", get("/api/v1/search?q=knife&limit=99999999999", ""), 400, "invalid"},
		{"empty search", get("/api/v1/search?q=", ""), 400, "invalid"},
		{"10 KB search", get("/api/v1/search?q="+big(10<<10), ""), 400, "invalid"},
		// Admin inputs are hostile too.
		{"negative stock", rawReq{method: "PUT", path: "/api/v1/inventory/4521", token: tk.admin, body: []byte(`{"available":-1}`)}, 400, "invalid"},
		{"stock as a string", rawReq{method: "PUT", path: "/api/v1/inventory/4521", token: tk.admin, body: []byte(`{"available":"12"}`)}, 400, "invalid"},
		{"stock 1e30", rawReq{method: "PUT", path: "/api/v1/inventory/4521", token: tk.admin, body: []byte(`{"available":1e30}`)}, 400, "invalid"},
		{"stock missing", rawReq{method: "PUT", path: "/api/v1/inventory/4521", token: tk.admin, body: []byte(`{}`)}, 400, "invalid"},
		{"negative price", post("/api/v1/products", tk.admin, []byte(`{"name":"Knife","price_cents":-1,"currency":"USD"}`)), 400, "invalid"},
		{"10 KB product name", post("/api/v1/products", tk.admin, []byte(`{"name":"`+big(10<<10)+`","price_cents":100,"currency":"USD"}`)), 400, "invalid"},
	}
	var responses int
	checkHeaders := func(name string, resp *rawResp) {
		responses++
		if got := resp.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: %d without X-Content-Type-Options: nosniff (got %q)", name, resp.status, got)
		}
	}
	for _, c := range cases {
		resp, err := c.req.do(addr)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		checkHeaders(c.name, resp)
		if resp.status >= 500 {
			t.Errorf("%s: %d, a server error (%s)", c.name, resp.status, clip(resp.body))
			continue
		}
		checkProblemResp(t, c.name, resp, c.status, c.code)
	}

	// Valid input that merely looks odd is accepted, not refused.
	accepted := []tc{
		{"unicode and emoji in a name", post("/api/v1/auth/signup", "", []byte(`{"email":"zoe-`+strconv.FormatInt(time.Now().UnixNano(), 36)+`@example.com","password":"correct horse battery","name":"Zoë 🦓 Ωμέγα 李"}`)), 201, ""},
		{"emoji product name", post("/api/v1/products", tk.admin, []byte(`{"name":"Knife 🔪 «Œuvre»","description":"<script>alert(1)</script> ' OR 1=1 --","price_cents":100,"currency":"USD"}`)), 201, ""},
		{"SQL injection in a search", get("/api/v1/search?q=%27%20OR%201%3D1%20--", ""), 200, ""},
		{"query syntax in a search", get("/api/v1/search?q=name%3A*%20AND%20(%5E~2", ""), 200, ""},
		{"hostile X-Request-Id", rawReq{method: "GET", path: "/api/v1/products?limit=1", headers: []string{"X-Request-Id", `evil"} {"level":"ERROR`}}, 200, ""},
	}
	for _, c := range accepted {
		resp, err := c.req.do(addr)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		checkHeaders(c.name, resp)
		if resp.status != c.status {
			t.Errorf("%s: %d, want %d (%s)", c.name, resp.status, c.status, clip(resp.body))
		}
		if id := resp.header.Get(telemetry.HeaderRequestID); !telemetry.ValidRequestID(id) {
			t.Errorf("%s: request id %q echoed", c.name, id)
		}
	}
	t.Logf("%d hostile requests, %d odd but valid ones", len(cases), len(accepted))

	// Nothing broke: the system is healthy and a normal order succeeds.
	resp, err := get("/health", "").do(addr)
	if err != nil || resp.status != 200 {
		t.Fatalf("/health after the table: %v %+v", err, resp)
	}
	checkHeaders("/health", resp)
	var o order
	if _, err := ada.JSON(ctx, "POST", "/api/v1/orders", orderBody("4521", 1, goodCard), &o); err != nil || o.Status != "CONFIRMED" {
		t.Fatalf("a normal order after the table: %v %+v", err, o)
	}
	if got := stockOf(t, ctx, client.New(sys.URL), "4521"); got != 11 {
		t.Errorf("stock of 4521 after the table and one order = %d, want 11: a hostile request moved stock", got)
	}
	t.Logf("%d answers checked for nosniff", responses)
}
