package user

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/sqlstore"
)

// EventUserRegistered is the auth event the profiles are built from.
const EventUserRegistered = "USER_REGISTERED"

// UserRegistered is the data of USER_REGISTERED (docs/contracts.md).
type UserRegistered struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

// registeredConsumer is the durable consumer of USER_REGISTERED; its
// name is also the inbox's consumer name.
var registeredConsumer = events.ConsumerConfig{
	Durable: "user-registered",
	Stream:  "auth",
	Subject: events.SubjectOf("auth", EventUserRegistered),
}

// HandleUserRegistered projects a USER_REGISTERED event into a profile,
// once per event id. An event that cannot be decoded, or names no user, is
// permanent (dead-lettered); a database error is retried.
func (s *Service) HandleUserRegistered(ctx context.Context, ev events.Event) error {
	var d UserRegistered
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return events.Permanent(fmt.Errorf("decode %s %s: %w", ev.Type, ev.ID, err))
	}
	if !validID(d.UserID) || d.Email == "" {
		return events.Permanent(fmt.Errorf("%s %s: no user id or email", ev.Type, ev.ID))
	}
	now := s.now().UTC()
	p := Profile{ID: d.UserID, Email: d.Email, Name: d.Name, Role: d.Role, CreatedAt: ev.Time, UpdatedAt: now}
	err := s.db.Tx(ctx, func(tx *sqlstore.Tx) error {
		first, err := tx.Inbox(ctx, registeredConsumer.Durable, ev.ID)
		if err != nil || !first {
			return err
		}
		return s.store.upsertRegistered(ctx, tx, p)
	})
	if err != nil {
		return fmt.Errorf("project %s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}
