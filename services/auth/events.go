package auth

import (
	"context"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/outbox"
	"github.com/souk/souk/platform/sqlstore"
)

// EventUserRegistered is published once per account, when it is created.
const EventUserRegistered = "USER_REGISTERED"

// UserRegistered is the data of USER_REGISTERED (docs/contracts.md).
type UserRegistered struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

// publishRegistered adds USER_REGISTERED for u to the outbox as part of tx.
func publishRegistered(ctx context.Context, tx *sqlstore.Tx, u User) error {
	ev, err := events.New(EventUserRegistered, "auth", u.ID, UserRegistered{UserID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role})
	if err != nil {
		return err
	}
	return outbox.Add(ctx, tx, ev)
}
