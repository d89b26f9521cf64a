package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/broker"
	"github.com/souk/souk/platform/brokertest"
)

// loginCounters returns n counters on one fresh bucket of the server at
// url, each on its own connection, as n gateway instances would have. The
// bucket is deleted when the test ends.
func loginCounters(t *testing.T, url string, n int) ([]*loginCounter, []*nats.Conn) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bucket := "souk_login_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*loginCounter
	var conns []*nats.Conn
	var js jetstream.JetStream
	for i := range n {
		nc, j, err := broker.Connect(ctx, url, "gateway-test", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if i == 0 {
			js = j
		}
		c, err := newLoginCounter(ctx, j, bucket, 1)
		if err != nil {
			t.Fatal(err)
		}
		out, conns = append(out, c), append(conns, nc)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteKeyValue(ctx, bucket)
	})
	return out, conns
}

func TestLoginCounter(t *testing.T) {
	for _, srv := range brokertest.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			cs, _ := loginCounters(t, srv.URL, 2)
			ctx := context.Background()
			start := time.Now().Truncate(time.Minute).Add(-3 * time.Minute) // a minute no other run used
			at := func(d time.Duration) time.Time { return start.Add(d) }

			// Two instances share the count: 5 in all, alternating.
			allowed := 0
			var wait time.Duration
			for i := range 8 {
				ok, w, err := cs[i%2].allow(ctx, "account", "ada@example.com", 5, at(time.Duration(i)*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					allowed++
				} else {
					wait = w
				}
			}
			if allowed != 5 {
				t.Fatalf("allowed %d of 8 attempts across two instances, want 5", allowed)
			}
			// Refused at 0:07 with 5 counted: one fits again at the next
			// minute plus a fifth of it (5*(1-f) <= 4).
			if want := 60*time.Second + 12*time.Second - 7*time.Second; wait < want-time.Second || wait > want+time.Second {
				t.Errorf("wait = %v, want about %v", wait, want)
			}
			// Other keys and kinds have their own counts.
			for _, k := range []struct{ kind, key string }{{"account", "grace@example.com"}, {"ip", "ada@example.com"}} {
				if ok, _, err := cs[0].allow(ctx, k.kind, k.key, 5, at(8*time.Second)); err != nil || !ok {
					t.Errorf("%s %s: allowed %v, %v; want allowed", k.kind, k.key, ok, err)
				}
			}

			// Sliding: half-way through the next minute half of the last
			// minute's 5 still count, so 2 more fit (2.5+1, 3.5+1 <= 5).
			allowed = 0
			for i := range 4 {
				if ok, _, _ := cs[i%2].allow(ctx, "account", "ada@example.com", 5, at(90*time.Second+time.Duration(i)*time.Millisecond)); ok {
					allowed++
				}
			}
			if allowed != 2 {
				t.Errorf("half-way through the next minute: allowed %d, want 2", allowed)
			}

			// The keys hold hashes, not the addresses or accounts.
			keys, err := cs[0].kv.ListKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for k := range keys.Keys() {
				n++
				if strings.Contains(k, "ada") || strings.Contains(k, "@") {
					t.Errorf("key %q shows the account", k)
				}
			}
			if n == 0 {
				t.Error("no keys in the bucket")
			}
		})
	}
}

// TestLoginCounterConcurrent: attempts racing from several instances are
// each counted once (compare-and-set), so no more than the limit pass.
func TestLoginCounterConcurrent(t *testing.T) {
	cs, _ := loginCounters(t, brokertest.Embedded(t), 3)
	now := time.Now()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := cs[i%3].allow(context.Background(), "account", "target@example.com", 5, now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != 5 {
		t.Errorf("allowed %d of 30 concurrent attempts, want 5", got)
	}
}

// TestLoginLimitAcrossGateways: two gateway instances behind a balancer
// enforce one login limit between them.
func TestLoginLimitAcrossGateways(t *testing.T) {
	cs, _ := loginCounters(t, brokertest.Embedded(t), 2)
	up := newUpstream(t)
	var gws []*gw
	for _, c := range cs {
		e := newGW(t, gwConfig{limits: Limits{LoginPerAccount: 5, LoginPerIP: 30}, logins: c})
		e.res.set("auth", up.addr())
		gws = append(gws, e)
	}
	login := func(i int) resp {
		return gws[i%2].do(t, "POST", "/api/v1/auth/login", `{"email":"ada@example.com","password":"guess"}`, "Content-Type: application/json")
	}
	for i := range 5 {
		if got := login(i); got.status != 200 {
			t.Fatalf("attempt %d = %d, want 200", i+1, got.status)
		}
	}
	wantProblem(t, login(5), http.StatusTooManyRequests, "rate_limited")
	wantProblem(t, login(6), http.StatusTooManyRequests, "rate_limited")
	if up.hits() != 5 {
		t.Errorf("auth saw %d logins through two gateways, want 5", up.hits())
	}
}

// TestLoginLimitFallsBackWhenTheBrokerIsDown: without the shared count each
// instance still applies the limit on its own, and says so once.
func TestLoginLimitFallsBackWhenTheBrokerIsDown(t *testing.T) {
	cs, conns := loginCounters(t, brokertest.Embedded(t), 1)
	conns[0].Close()
	e := newGW(t, gwConfig{limits: Limits{LoginPerAccount: 3, LoginPerIP: 30}, logins: cs[0]})
	up := newUpstream(t)
	e.res.set("auth", up.addr())
	for i := range 3 {
		if got := e.do(t, "POST", "/api/v1/auth/login", `{"email":"ada@example.com","password":"x"}`); got.status != 200 {
			t.Fatalf("attempt %d = %d, want 200", i+1, got.status)
		}
	}
	wantProblem(t, e.do(t, "POST", "/api/v1/auth/login", `{"email":"ada@example.com","password":"x"}`), http.StatusTooManyRequests, "rate_limited")
	if n := strings.Count(e.appLog.String(), "shared counter is unavailable"); n != 1 {
		t.Errorf("fallback warnings: %d, want 1 (at most one per 10 s)", n)
	}
	if e.g.loginFallbacks.Load() < 4 {
		t.Errorf("fallbacks counted: %d, want at least 4", e.g.loginFallbacks.Load())
	}
}

// BenchmarkLoginCounter is one login limit check (a fresh key each time,
// as for a first attempt: two reads and a create) on the embedded broker.
func BenchmarkLoginCounter(b *testing.B) {
	url := brokertest.Embedded(b)
	ctx := context.Background()
	_, js, err := broker.Connect(ctx, url, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	c, err := newLoginCounter(ctx, js, "souk_login_bench", 1)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if ok, _, err := c.allow(ctx, "account", "user"+strconv.Itoa(i), 5, now); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
