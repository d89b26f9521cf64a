package auth

import (
	"context"
	"fmt"

	"github.com/souk/souk/platform/sqlstore"
)

// SeedUser writes in tx the account u with the password hash hash (a PHC
// string from Hasher.Hash), for a bulk seed (`souk seed`, tools/seed). It
// writes no USER_REGISTERED to the outbox: the seed writes the user
// service's profile itself. u.Email must be normalized (trimmed, lower
// case) and u.Role authn.RoleCustomer or authn.RoleAdmin. fault.Conflict
// (email_taken) when the email has an account; the caller's transaction
// is then to be rolled back.
func (s *Store) SeedUser(ctx context.Context, tx *sqlstore.Tx, u User, hash string) error {
	if _, err := parseHash(hash); err != nil {
		return fmt.Errorf("seed user %s: %w", u.Email, err)
	}
	if err := s.insertUser(ctx, tx, u, hash); err != nil {
		return fmt.Errorf("seed user %s: %w", u.Email, err)
	}
	return nil
}
