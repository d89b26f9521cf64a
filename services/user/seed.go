package user

import (
	"context"

	"github.com/souk/souk/platform/sqlstore"
)

// SeedProfile writes in tx the profile of an account, as the
// USER_REGISTERED consumer makes it, for a bulk seed (`souk seed`,
// tools/seed). It writes no inbox row. A profile with p's id stays as it
// is.
func (s *Store) SeedProfile(ctx context.Context, tx *sqlstore.Tx, p Profile) error {
	return s.insertIfAbsent(ctx, tx, p)
}
