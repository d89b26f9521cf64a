package user

import (
	"context"
	"fmt"
	"time"

	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
)

// Service holds the user use cases.
type Service struct {
	db       *sqlstore.DB
	store    *Store
	accounts Accounts
	now      func() time.Time
}

// NewService returns a Service that read-repairs through accounts.
func NewService(db *sqlstore.DB, now func() time.Time, accounts Accounts) *Service {
	return &Service{db: db, store: NewStore(db), accounts: accounts, now: now}
}

// Profile returns the profile id, read-repairing it from auth when it has
// not been projected yet. Errors: fault.Invalid for a malformed id,
// fault.NotFound when auth has no such user, auth's fault.Unavailable or
// fault.Timeout when it cannot tell.
func (s *Service) Profile(ctx context.Context, id string) (Profile, error) {
	if !validID(id) {
		return Profile{}, fault.Invalidf("the user id must be 1 to 64 characters")
	}
	p, found, err := s.store.profile(ctx, s.db, id)
	if err != nil || found {
		return p, err
	}
	return s.repair(ctx, id)
}

// repair fetches the account id from auth and stores its profile unless
// the event was projected meanwhile, and returns the stored profile.
func (s *Service) repair(ctx context.Context, id string) (Profile, error) {
	a, err := s.accounts.Account(ctx, id)
	if fault.Is(err, fault.NotFound) {
		return Profile{}, fault.NotFoundf("no user %s", id)
	}
	if err != nil {
		return Profile{}, fmt.Errorf("read-repair %s: %w", id, err)
	}
	now := s.now().UTC()
	p := Profile{ID: id, Email: a.Email, Name: a.Name, Role: a.Role, CreatedAt: a.CreatedAt, UpdatedAt: now}
	if p.CreatedAt.IsZero() { // created_at is an addition to the contract
		p.CreatedAt = now
	}
	var stored Profile
	err = s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		if err := s.store.insertIfAbsent(ctx, tx, p); err != nil {
			return err
		}
		var err error
		stored, _, err = s.store.profile(ctx, tx, id)
		return err
	})
	if err != nil {
		return Profile{}, fmt.Errorf("read-repair %s: %w", id, err)
	}
	return stored, nil
}

// UpdateName sets the name of profile id. Errors: fault.Invalid, and those
// of Profile.
func (s *Service) UpdateName(ctx context.Context, id string, req UpdateRequest) (Profile, error) {
	req = req.Normalize()
	if err := req.Validate(); err != nil {
		return Profile{}, err
	}
	p, err := s.Profile(ctx, id)
	if err != nil {
		return Profile{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	if err := s.store.setName(ctx, id, req.Name, now); err != nil {
		return Profile{}, err
	}
	p.Name, p.UpdatedAt = req.Name, now
	return p, nil
}
