package authn

import (
	"context"
	"strings"
	"time"

	"github.com/souk/souk/platform/fault"
)

// Roles.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
	RoleService  = "service"
)

// Principal is the verified identity behind a request.
type Principal struct {
	Subject string // user id, or "service:<name>"
	Email   string
	Name    string
	Role    string
	Service string // the calling service, for service tokens
	Expires time.Time
	Token   string // the raw bearer token, to forward on the user's behalf
}

// IsAdmin reports whether p is an admin user.
func (p *Principal) IsAdmin() bool { return p != nil && p.Role == RoleAdmin }

// IsService reports whether p is another Souk service.
func (p *Principal) IsService() bool { return p != nil && p.Role == RoleService }

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

var errNoToken = fault.New(fault.Unauthorized, "unauthorized", "a bearer token is required")

// RequireUser returns the user behind ctx, or fault.Unauthorized. Service
// principals are not users.
func RequireUser(ctx context.Context) (*Principal, error) {
	p, ok := FromContext(ctx)
	if !ok || p.IsService() {
		return nil, errNoToken
	}
	return p, nil
}

// RequireAdmin returns the admin behind ctx: fault.Unauthorized without a
// user, fault.Forbidden for a customer.
func RequireAdmin(ctx context.Context) (*Principal, error) {
	p, err := RequireUser(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsAdmin() {
		return nil, fault.New(fault.Forbidden, "forbidden", "admin only")
	}
	return p, nil
}

// RequireService returns the calling service, or an error: internal
// endpoints answer only to other services (and to admins, for audits, when
// allowAdmin is true).
func RequireService(ctx context.Context, allowAdmin bool) (*Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return nil, errNoToken
	}
	if p.IsService() || (allowAdmin && p.IsAdmin()) {
		return p, nil
	}
	return nil, fault.New(fault.Forbidden, "forbidden", "internal endpoint")
}

// BearerToken extracts the token from an Authorization header value;
// ok is false when there is none.
func BearerToken(header string) (token string, ok bool) {
	const prefix = "Bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(header[len(prefix):]), true
}
