package authn

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ServiceTokens mints the token a service presents on internal calls,
// reusing one until half its lifetime has passed.
type ServiceTokens struct {
	secret  []byte
	service string
	ttl     time.Duration
	now     func() time.Time

	mu      sync.Mutex
	header  string
	renewAt time.Time
}

// NewServiceTokens returns a minter for service, signing with secret.
func NewServiceTokens(secret []byte, service string, ttl time.Duration, now func() time.Time) *ServiceTokens {
	if now == nil {
		now = time.Now
	}
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	return &ServiceTokens{secret: secret, service: service, ttl: ttl, now: now}
}

// Authorization returns the Authorization header value ("Bearer ...") for an
// internal call; its signature fits rpc.Options.Token.
func (s *ServiceTokens) Authorization(context.Context) string {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.header != "" && now.Before(s.renewAt) {
		return s.header
	}
	tok, err := SignService(s.secret, s.service, now, s.ttl)
	if err != nil {
		return ""
	}
	s.header = "Bearer " + tok
	s.renewAt = now.Add(s.ttl / 2)
	return s.header
}

// SignService signs a service token for service.
func SignService(secret []byte, service string, now time.Time, ttl time.Duration) (string, error) {
	if len(secret) < 16 {
		return "", fmt.Errorf("sign service token: secret shorter than 16 bytes")
	}
	claims := jwt.RegisteredClaims{
		Issuer:    ServiceIssuer,
		Subject:   "service:" + service,
		Audience:  jwt.ClaimStrings{ServiceAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign service token: %w", err)
	}
	return s, nil
}
