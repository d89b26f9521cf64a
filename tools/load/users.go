package load

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/souk/souk/tools/client"
)

// userPassword is the password of every generated user: long enough for
// any sane password policy.
const userPassword = "souk-load-password-1"

// user is one virtual customer: a stable fake address and a token.
type user struct {
	index    int64
	email    string
	password string
	ip       string                 // the X-Forwarded-For of all its requests
	auth     atomic.Pointer[[]byte] // "Bearer <token>", nil before login
	tokenAt  atomic.Int64           // unix nanoseconds of the last login
	busy     atomic.Bool            // a refresh is running
}

func (u *user) setToken(token string, at time.Time) {
	h := []byte("Bearer " + token)
	u.auth.Store(&h)
	u.tokenAt.Store(at.UnixNano())
}

// userIP is the fake address of user k: 10.a.b.c below 10.255.0.0/16,
// which anonymous clients use.
func userIP(k int64) string {
	k = (k-1)%(255*65536-1) + 1
	return "10." + strconv.FormatInt(k>>16, 10) + "." + strconv.FormatInt((k>>8)&255, 10) + "." + strconv.FormatInt(k&255, 10)
}

// anonymousIPs returns n fake addresses in 10.255.0.0/16.
func anonymousIPs(n int) []string {
	if n < 1 {
		n = 1
	}
	if n > 65534 {
		n = 65534
	}
	out := make([]string, n)
	for i := range out {
		k := i + 1
		out[i] = "10.255." + strconv.Itoa(k>>8) + "." + strconv.Itoa(k&255)
	}
	return out
}

// userPool is the set of logged-in users; it only grows.
type userPool struct {
	runID string
	next  atomic.Int64 // the next user index to create
	rr    atomic.Uint64

	mu    sync.RWMutex
	users []*user
}

func newUserPool(runID string) *userPool { return &userPool{runID: runID} }

// newUser allocates a user (not yet in the pool).
func (p *userPool) newUser() *user {
	k := p.next.Add(1)
	return &user{index: k, email: "load-" + p.runID + "-" + strconv.FormatInt(k, 10) + "@example.com", password: userPassword, ip: userIP(k)}
}

// existingUser allocates a user (not yet in the pool) for an account that
// exists already.
func (p *userPool) existingUser(a Account) *user {
	k := p.next.Add(1)
	return &user{index: k, email: a.Email, password: a.Password, ip: userIP(k)}
}

func (p *userPool) add(u *user) {
	p.mu.Lock()
	p.users = append(p.users, u)
	p.mu.Unlock()
}

func (p *userPool) len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.users)
}

// random returns any user, or nil when the pool is empty.
func (p *userPool) random() *user {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.users) == 0 {
		return nil
	}
	return p.users[rand.IntN(len(p.users))]
}

// roundRobin returns the users in turn, spreading logins evenly under the
// per-account login limit.
func (p *userPool) roundRobin() *user {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.users) == 0 {
		return nil
	}
	return p.users[p.rr.Add(1)%uint64(len(p.users))]
}

func (p *userPool) snapshot() []*user {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]*user(nil), p.users...)
}

// signupAndLogin creates u on the gateway and logs it in, outside the
// measurements.
func signupAndLogin(ctx context.Context, c *client.Client, u *user) error {
	body := map[string]string{"email": u.email, "password": u.password, "name": "Load User " + strconv.FormatInt(u.index, 10)}
	if _, err := c.JSON(ctx, http.MethodPost, "/api/v1/auth/signup", body, nil, "X-Forwarded-For", u.ip); err != nil {
		return fmt.Errorf("sign up %s: %w", u.email, err)
	}
	return login(ctx, c, u)
}

func login(ctx context.Context, c *client.Client, u *user) error {
	var tok client.Token
	body := map[string]string{"email": u.email, "password": u.password}
	if _, err := c.JSON(ctx, http.MethodPost, "/api/v1/auth/login", body, &tok, "X-Forwarded-For", u.ip); err != nil {
		return fmt.Errorf("log in %s: %w", u.email, err)
	}
	if tok.AccessToken == "" {
		return fmt.Errorf("log in %s: no access_token in the answer", u.email)
	}
	u.setToken(tok.AccessToken, time.Now())
	return nil
}

// setupUsers signs up and logs in n users, then logs in the existing
// accounts, parallel at most at a time, with a progress line a second; it
// returns the first error and how many failed.
func setupUsers(ctx context.Context, c *client.Client, pool *userPool, n int, accounts []Account, parallel int, progress io.Writer) (failed int, firstErr error) {
	total := n + len(accounts)
	if total <= 0 {
		return 0, nil
	}
	if parallel < 1 {
		parallel = 1
	}
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
		sem  = make(chan struct{}, parallel)
	)
	began := time.Now()
	stop := make(chan struct{})
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
				mu.Lock()
				fmt.Fprintf(progress, "setup: %d/%d users ready, %d failed (%.0fs)\n", done-failed, total, failed, time.Since(began).Seconds())
				mu.Unlock()
			}
		}
	}()
	for i := 0; i < total && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var u *user
			var err error
			if i < n {
				u = pool.newUser()
				err = signupAndLogin(ctx, c, u)
			} else {
				u = pool.existingUser(accounts[i-n])
				err = login(ctx, c, u)
			}
			mu.Lock()
			done++
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
			}
			mu.Unlock()
			if err == nil {
				pool.add(u)
			}
		}()
	}
	wg.Wait()
	close(stop)
	fmt.Fprintf(progress, "setup: %d/%d users ready, %d failed (%.1fs)\n", done-failed, total, failed, time.Since(began).Seconds())
	return failed, firstErr
}

// refreshTokens logs in again, outside the measurements, every user whose
// token is older than maxAge, until ctx is done.
func refreshTokens(ctx context.Context, c *client.Client, pool *userPool, maxAge, every time.Duration, warn io.Writer) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-maxAge).UnixNano()
		for _, u := range pool.snapshot() {
			if ctx.Err() != nil {
				return
			}
			if u.tokenAt.Load() > cutoff || !u.busy.CompareAndSwap(false, true) {
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := login(lctx, c, u); err != nil && ctx.Err() == nil {
				fmt.Fprintf(warn, "load: refresh token: %v\n", err)
			}
			cancel()
			u.busy.Store(false)
		}
	}
}
