package user

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/souk/souk/platform/rpc"
)

// Account is a user as the auth service knows it.
type Account struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// Accounts fetches accounts from the auth service, for read-repair.
type Accounts interface {
	// Account returns the account id: fault.NotFound when auth has none,
	// fault.Unavailable (or Timeout) when auth cannot answer.
	Account(ctx context.Context, id string) (Account, error)
}

// AuthAccounts is Accounts over auth's GET /internal/users/{id}.
type AuthAccounts struct {
	rpc *rpc.Client
}

// NewAuthAccounts returns Accounts that call auth through c.
func NewAuthAccounts(c *rpc.Client) *AuthAccounts { return &AuthAccounts{rpc: c} }

// Account implements Accounts.
func (a *AuthAccounts) Account(ctx context.Context, id string) (Account, error) {
	var out Account
	err := a.rpc.Do(ctx, "auth", rpc.Call{Method: http.MethodGet, Path: "/internal/users/" + url.PathEscape(id), Idempotent: true}, &out)
	return out, err
}
