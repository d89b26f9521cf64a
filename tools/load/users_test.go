package load

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/souk/souk/tools/client"
)

// TestRefreshOldTokens logs in again the users whose token is older than
// the limit, and only them.
func TestRefreshOldTokens(t *testing.T) {
	g := &fakeGateway{}
	url := startFake(t, g)
	pool := newUserPool("test")
	old, fresh := pool.newUser(), pool.newUser()
	old.setToken("stale", time.Now().Add(-11*time.Minute))
	fresh.setToken("fresh", time.Now().Add(-time.Minute))
	pool.add(old)
	pool.add(fresh)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	refreshTokens(ctx, client.New(url), pool, 10*time.Minute, 20*time.Millisecond, io.Discard)

	if got := g.logins.Load(); got != 1 {
		t.Errorf("%d logins, want 1 (the stale user, once)", got)
	}
	if got := string(*old.auth.Load()); got != "Bearer tok-"+old.email {
		t.Errorf("stale user's header %q, want the new token", got)
	}
	if got := string(*fresh.auth.Load()); got != "Bearer fresh" {
		t.Errorf("fresh user's header %q, want it unchanged", got)
	}
}
