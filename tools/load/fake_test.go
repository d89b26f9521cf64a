package load

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/souk/souk/sampledata"
)

// fakeGateway answers the public routes the journeys use, like the real
// gateway would, with hooks for the tests.
type fakeGateway struct {
	// order, when set, answers POST /api/v1/orders; seq is the number at
	// the end of the Idempotency-Key.
	order func(w http.ResponseWriter, r *http.Request, seq int)
	// before, when set, runs before every measured route.
	before func(r *http.Request)

	orders    atomic.Int64
	restocked atomic.Int64
	logins    atomic.Int64
	signups   atomic.Int64
	lists     atomic.Int64 // GET /api/v1/orders
	gets      atomic.Int64 // GET /api/v1/orders/{id}

	// ordersOf, when set, is how many orders the user with email has
	// (default 3); they are listed by GET /api/v1/orders.
	ordersOf func(email string) int

	mu  sync.Mutex
	xff map[string]map[string]bool // path kind -> addresses seen
}

const fakeAdminToken = "admin-token"

func (g *fakeGateway) sawXFF(kind, ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.xff == nil {
		g.xff = map[string]map[string]bool{}
	}
	if g.xff[kind] == nil {
		g.xff[kind] = map[string]bool{}
	}
	g.xff[kind][ip] = true
}

func (g *fakeGateway) addresses(kind string) map[string]bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]bool{}
	for k := range g.xff[kind] {
		out[k] = true
	}
	return out
}

func problem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"about:blank","title":"x","status":%d,"code":%q,"detail":"fake"}`, status, code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	measured := !(r.Method == http.MethodGet && path == "/api/v1/products" && r.URL.Query().Get("limit") == "100") && !strings.HasPrefix(path, "/api/v1/inventory/")
	if measured && g.before != nil {
		g.before(r)
	}
	switch {
	case r.Method == http.MethodGet && path == "/api/v1/products":
		if measured {
			g.sawXFF("anon", r.Header.Get("X-Forwarded-For"))
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 {
			limit = 20
		}
		from, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		type item struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			Description string `json:"description"`
			PriceCents  int64  `json:"price_cents"`
			Currency    string `json:"currency"`
		}
		page := struct {
			Items      []item `json:"items"`
			NextCursor string `json:"next_cursor"`
		}{Items: []item{}}
		for i := from; i < len(sampledata.Products) && len(page.Items) < limit; i++ {
			p := sampledata.Products[i]
			page.Items = append(page.Items, item{p.ID, p.Name, p.Description, p.PriceCents, p.Currency})
			if i+1 < len(sampledata.Products) {
				page.NextCursor = strconv.Itoa(i + 1)
			} else {
				page.NextCursor = ""
			}
		}
		writeJSON(w, http.StatusOK, page)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/v1/products/"):
		g.sawXFF("anon", r.Header.Get("X-Forwarded-For"))
		id := strings.TrimPrefix(path, "/api/v1/products/")
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "name": "Thing " + id, "price_cents": 100, "currency": "USD",
			"stock": map[string]int{"available": 5}, "recommendations": []string{}})
	case r.Method == http.MethodGet && path == "/api/v1/search":
		g.sawXFF("anon", r.Header.Get("X-Forwarded-For"))
		writeJSON(w, http.StatusOK, map[string]any{"items": []map[string]string{{"id": "4501", "name": r.URL.Query().Get("q")}}})
	case r.Method == http.MethodPost && path == "/api/v1/auth/signup":
		g.sawXFF("user", r.Header.Get("X-Forwarded-For"))
		var b struct{ Email, Password, Name string }
		if json.NewDecoder(r.Body).Decode(&b) != nil || b.Email == "" || b.Password == "" || b.Name == "" {
			problem(w, 400, "invalid")
			return
		}
		g.signups.Add(1)
		writeJSON(w, http.StatusCreated, map[string]string{"id": "u-" + b.Email, "email": b.Email, "name": b.Name})
	case r.Method == http.MethodPost && path == "/api/v1/auth/login":
		var b struct{ Email, Password string }
		if json.NewDecoder(r.Body).Decode(&b) != nil || b.Email == "" || b.Password == "" {
			problem(w, 400, "invalid")
			return
		}
		g.logins.Add(1)
		token := "tok-" + b.Email
		if strings.HasPrefix(b.Email, "admin@") {
			if b.Password != "admin-pw" {
				problem(w, 401, "unauthorized")
				return
			}
			token = fakeAdminToken
		} else {
			g.sawXFF("user", r.Header.Get("X-Forwarded-For"))
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 900})
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/api/v1/inventory/"):
		if r.Header.Get("Authorization") != "Bearer "+fakeAdminToken {
			problem(w, 403, "forbidden")
			return
		}
		g.restocked.Add(1)
		writeJSON(w, http.StatusOK, map[string]any{"available": 1000000})
	case r.Method == http.MethodPost && path == "/api/v1/orders":
		g.sawXFF("user", r.Header.Get("X-Forwarded-For"))
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-") {
			problem(w, 401, "unauthorized")
			return
		}
		var b struct {
			Items []struct {
				ProductID string `json:"product_id"`
				Quantity  int    `json:"quantity"`
			} `json:"items"`
			Payment struct {
				CardNumber string `json:"card_number"`
				ExpMonth   int    `json:"exp_month"`
				ExpYear    int    `json:"exp_year"`
				CVC        string `json:"cvc"`
			} `json:"payment"`
		}
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || len(b.Items) < 1 || len(b.Items) > 3 || b.Payment.CardNumber != successCard {
			problem(w, 400, "invalid")
			return
		}
		seen := map[string]bool{}
		for _, it := range b.Items {
			if seen[it.ProductID] || it.Quantity < 1 || it.Quantity > 2 {
				problem(w, 400, "invalid")
				return
			}
			seen[it.ProductID] = true
		}
		key := r.Header.Get("Idempotency-Key")
		i := strings.LastIndexByte(key, '-')
		seq, err := strconv.Atoi(key[i+1:])
		if i < 0 || err != nil {
			problem(w, 400, "invalid")
			return
		}
		n := g.orders.Add(1)
		if g.order != nil {
			g.order(w, r, seq)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": "ord-" + strconv.FormatInt(n, 10), "status": "CONFIRMED", "total_cents": 100, "currency": "USD"})
	case r.Method == http.MethodGet && path == "/api/v1/orders":
		g.sawXFF("user", r.Header.Get("X-Forwarded-For"))
		email, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer tok-")
		if !ok {
			problem(w, 401, "unauthorized")
			return
		}
		g.lists.Add(1)
		type item struct {
			ID         string `json:"product_id"`
			Quantity   int    `json:"quantity"`
			PriceCents int64  `json:"price_cents"`
		}
		type ord struct {
			ID         string `json:"id"`
			Status     string `json:"status"`
			CustomerID string `json:"customer_id"`
			Items      []item `json:"items"`
		}
		n := 3
		if g.ordersOf != nil {
			n = g.ordersOf(email)
		}
		page := struct {
			Items      []ord  `json:"items"`
			NextCursor string `json:"next_cursor"`
		}{Items: []ord{}}
		for i := 1; i <= n; i++ {
			page.Items = append(page.Items, ord{ID: "ord-" + email + "-" + strconv.Itoa(i), Status: "CONFIRMED", CustomerID: "u-" + email, Items: []item{{"4501", 1, 1450}}})
		}
		writeJSON(w, http.StatusOK, page)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/v1/orders/"):
		email, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer tok-")
		id := strings.TrimPrefix(path, "/api/v1/orders/")
		if !ok || !strings.HasPrefix(id, "ord-"+email+"-") {
			problem(w, 404, "not_found") // another customer's order
			return
		}
		g.gets.Add(1)
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": "CONFIRMED", "customer_id": "u-" + email})
	default:
		problem(w, 404, "not_found")
	}
}

// startFake serves g on a loopback port until the test ends.
func startFake(t testing.TB, g http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv.URL
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	c, _, err := hj.Hijack()
	if err == nil {
		c.Close()
	}
}

// fakeGatewayEnv makes the test binary serve a fakeGateway, for the CPU
// benchmark: the generator's CPU must not include the server's.
const fakeGatewayEnv = "SOUK_LOAD_FAKE_GATEWAY"

func TestMain(m *testing.M) {
	if os.Getenv(fakeGatewayEnv) == "1" {
		serveFakeProcess()
		return
	}
	os.Exit(m.Run())
}

// serveFakeProcess prints the address it listens on and serves until its
// stdin closes.
func serveFakeProcess() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		os.Exit(0)
	}()
	_ = http.Serve(ln, &fakeGateway{})
}
