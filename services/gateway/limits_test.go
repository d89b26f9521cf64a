package gateway

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/authn"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	a := netip.MustParseAddr
	tests := []struct {
		name string
		peer netip.Addr
		xff  string
		want netip.Addr
	}{
		{"untrusted peer ignores the header", a("203.0.113.9"), "198.51.100.1", a("203.0.113.9")},
		{"trusted peer without header", a("10.1.2.3"), "", a("10.1.2.3")},
		{"trusted peer, one address", a("10.1.2.3"), "198.51.100.1", a("198.51.100.1")},
		{"trusted peer, spaces", a("10.1.2.3"), "  198.51.100.1  ", a("198.51.100.1")},
		{"last untrusted in the chain", a("10.1.2.3"), "1.1.1.1, 198.51.100.1, 10.9.9.9", a("198.51.100.1")},
		{"a client cannot forge the first hop", a("127.0.0.1"), "6.6.6.6, 198.51.100.1", a("198.51.100.1")},
		{"all trusted: the peer", a("10.1.2.3"), "10.0.0.1, 127.0.0.1", a("10.1.2.3")},
		{"garbage: the peer", a("10.1.2.3"), "not-an-ip", a("10.1.2.3")},
		{"garbage after a good address: the peer", a("10.1.2.3"), "198.51.100.1, bogus", a("10.1.2.3")},
		{"empty element: the peer", a("10.1.2.3"), "198.51.100.1,", a("10.1.2.3")},
		{"ipv6", a("::1"), "2001:db8::1", a("2001:db8::1")},
		{"mapped ipv4 is unmapped", a("10.1.2.3"), "::ffff:198.51.100.1", a("198.51.100.1")},
		{"mapped trusted proxy skipped", a("10.1.2.3"), "198.51.100.1, ::ffff:10.0.0.5", a("198.51.100.1")},
		{"with a port: the peer", a("10.1.2.3"), "198.51.100.1:443", a("10.1.2.3")},
		{"no trusted proxies", a("127.0.0.1"), "198.51.100.1", a("127.0.0.1")},
	}
	for _, tt := range tests {
		tr := trusted
		if tt.name == "no trusted proxies" {
			tr = nil
		}
		if got := clientIP(tt.peer, tt.xff, tr); got != tt.want {
			t.Errorf("%s: clientIP(%s, %q) = %s, want %s", tt.name, tt.peer, tt.xff, got, tt.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 127.0.0.1/32, ::1 ,10.1.2.3/8,, 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("ParsePrefixes (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"10.0.0.0/33", "localhost", "10.0.0/8"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) succeeded", bad)
		}
	}
}

func TestLimiterSet(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newLimiterSet(2, 3) // 2/s, burst 3
	for i := range 3 {
		if ok, _ := s.allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := s.allow("a", now)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Errorf("4th request = %v, wait %s; want refused with a wait of at most 500ms", ok, wait)
	}
	// A refusal costs no token: after 500ms exactly one more is allowed.
	if ok, _ := s.allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Error("refused 500ms later, when a token has accrued")
	}
	if ok, _ := s.allow("a", now.Add(500*time.Millisecond)); ok {
		t.Error("allowed twice on one accrued token")
	}
	if ok, _ := s.allow("b", now); !ok {
		t.Error("another key is limited by a's bucket")
	}
	if n := s.size(); n != 2 {
		t.Errorf("size = %d, want 2", n)
	}
	s.evict(now.Add(time.Millisecond)) // b was last seen at now, a later
	if n := s.size(); n != 1 {
		t.Errorf("size after evicting idle buckets = %d, want 1", n)
	}
	var unlimited *limiterSet
	if ok, _ := unlimited.allow("x", now); !ok {
		t.Error("a nil set limits")
	}
	if ok, _ := newLimiterSet(0, 0).allow("x", now); !ok {
		t.Error("a zero rate limits")
	}
}

func TestLoginEmail(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"email":" Ada@Example.COM ","password":"x"}`, "ada@example.com"},
		{`{"password":"x"}`, ""},
		{`{"email":["x"]}`, ""},
		{`not json`, ""},
		{`{"email":"` + string(make([]byte, 5000)) + `"}`, ""},
	}
	for _, tt := range tests {
		if got := loginEmail([]byte(tt.body)); got != tt.want {
			t.Errorf("loginEmail(%.40q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestRateLimitPerUserAndPerIP(t *testing.T) {
	e := newGW(t, gwConfig{limits: Limits{ClientRate: 0.01, ClientBurst: 3, AnonymousRate: 0.01, AnonymousBurst: 2}})
	up := newUpstream(t)
	e.res.set("order", up.addr())
	e.res.set("catalog", up.addr())
	alice := "Authorization: Bearer " + e.token(t, "alice", authn.RoleCustomer)
	bob := "Authorization: Bearer " + e.token(t, "bob", authn.RoleCustomer)

	for i := range 3 {
		if got := e.do(t, "GET", "/api/v1/orders", "", alice); got.status != 200 {
			t.Fatalf("alice's request %d = %d, want 200", i+1, got.status)
		}
	}
	got := e.do(t, "GET", "/api/v1/orders", "", alice)
	p := wantProblem(t, got, http.StatusTooManyRequests, "rate_limited")
	ra, err := strconv.Atoi(got.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra != p.RetryAfter {
		t.Errorf("Retry-After = %q, problem retry_after %d; want the same whole number of seconds ≥ 1", got.header.Get("Retry-After"), p.RetryAfter)
	}
	// Bob, on the same address, has his own bucket; so do anonymous
	// requests from it, which have theirs.
	if got := e.do(t, "GET", "/api/v1/orders", "", bob); got.status != 200 {
		t.Errorf("bob = %d, want 200: users are limited separately", got.status)
	}
	for i := range 2 {
		if got := e.do(t, "GET", "/api/v1/products", ""); got.status != 200 {
			t.Errorf("anonymous request %d = %d, want 200", i+1, got.status)
		}
	}
	wantProblem(t, e.do(t, "GET", "/api/v1/products", ""), http.StatusTooManyRequests, "rate_limited")
	// A public route does not verify tokens, so a token does not move a
	// request out of its address's bucket there.
	wantProblem(t, e.do(t, "GET", "/api/v1/products", "", bob), http.StatusTooManyRequests, "rate_limited")
	if up.hits() != 6 {
		t.Errorf("the service saw %d requests, want 6: refused ones never reach it", up.hits())
	}
}

// Behind a trusted proxy each forwarded address is its own client.
func TestRateLimitPerForwardedAddress(t *testing.T) {
	e := newGW(t, gwConfig{limits: Limits{AnonymousRate: 0.01, AnonymousBurst: 1, TrustedProxies: []netip.Prefix{loopback()}}})
	up := newUpstream(t)
	e.res.set("catalog", up.addr())
	for i := range 5 {
		xff := fmt.Sprintf("X-Forwarded-For: 198.51.100.%d", i)
		if got := e.do(t, "GET", "/api/v1/products", "", xff); got.status != 200 {
			t.Errorf("client %d = %d, want 200", i, got.status)
		}
	}
	wantProblem(t, e.do(t, "GET", "/api/v1/products", "", "X-Forwarded-For: 198.51.100.0"), http.StatusTooManyRequests, "rate_limited")
}

func TestLoginLimitPerAccount(t *testing.T) {
	e := newGW(t, gwConfig{limits: Limits{LoginPerAccount: 5, LoginPerIP: 30}})
	up := newUpstream(t)
	e.res.set("auth", up.addr())
	login := func(email string) resp {
		return e.do(t, "POST", "/api/v1/auth/login", `{"email":"`+email+`","password":"guess"}`, "Content-Type: application/json")
	}
	for i := range 5 {
		// The same account, however it is spelled.
		email := []string{"ada@example.com", "ADA@example.com", " ada@Example.com "}[i%3]
		if got := login(email); got.status != 200 {
			t.Fatalf("attempt %d = %d, want 200", i+1, got.status)
		}
	}
	got := login("ada@example.com")
	wantProblem(t, got, http.StatusTooManyRequests, "rate_limited")
	if ra, _ := strconv.Atoi(got.header.Get("Retry-After")); ra < 1 || ra > 12 {
		t.Errorf("Retry-After = %q, want about 12s (5 per minute)", got.header.Get("Retry-After"))
	}
	if got := login("grace@example.com"); got.status != 200 {
		t.Errorf("another account = %d, want 200", got.status)
	}
	if up.hits() != 6 {
		t.Errorf("auth saw %d logins, want 6", up.hits())
	}
}

func TestLoginLimitPerIP(t *testing.T) {
	e := newGW(t, gwConfig{limits: Limits{LoginPerAccount: 5, LoginPerIP: 3}})
	up := newUpstream(t)
	e.res.set("auth", up.addr())
	for i := range 3 {
		body := fmt.Sprintf(`{"email":"user%d@example.com","password":"x"}`, i)
		if got := e.do(t, "POST", "/api/v1/auth/login", body); got.status != 200 {
			t.Fatalf("login %d = %d", i+1, got.status)
		}
	}
	wantProblem(t, e.do(t, "POST", "/api/v1/auth/login", `{"email":"new@example.com","password":"x"}`), http.StatusTooManyRequests, "rate_limited")
	// Only the login route has these limits.
	if got := e.do(t, "POST", "/api/v1/auth/signup", `{}`); got.status != 200 {
		t.Errorf("signup = %d, want 200", got.status)
	}
}

func TestInflightCap(t *testing.T) {
	e := newGW(t, gwConfig{limits: Limits{MaxInflight: 2}})
	up := newUpstream(t)
	e.res.set("catalog", up.addr())
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if got := e.do(t, "GET", "/api/v1/products", ""); got.status != 200 {
				t.Errorf("held request = %d, want 200", got.status)
			}
		})
	}
	<-entered
	<-entered
	got := e.do(t, "GET", "/api/v1/products", "")
	p := wantProblem(t, got, http.StatusServiceUnavailable, "overloaded")
	if got.header.Get("Retry-After") != "1" || p.RetryAfter != 1 {
		t.Errorf("Retry-After = %q (problem %d), want 1", got.header.Get("Retry-After"), p.RetryAfter)
	}
	close(release)
	wg.Wait()
	if got := e.do(t, "GET", "/api/v1/products", ""); got.status != 200 {
		t.Errorf("after the load = %d, want 200", got.status)
	}
	if n := e.g.inflight.Load(); n != 0 {
		t.Errorf("in flight after all answered = %d, want 0", n)
	}
}
