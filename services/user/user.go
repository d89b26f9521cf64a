// Package user is the user service: it owns profiles, a read model of the
// accounts the auth service creates, fed by auth's USER_REGISTERED events.
//
// The consumer applies each event exactly once (an inbox row in the
// transaction of the write), whatever JetStream redelivers. A profile is
// created from the event; afterwards its name belongs to the user (PATCH
// /api/v1/users/me), while email and role keep following auth.
//
// A user's first request can come before the event has been projected
// (sign-up, log in and ask for the profile within a few milliseconds). On a
// miss the service asks auth (GET /internal/users/{id}, idempotent and
// retried by platform/rpc), stores the answer and returns it: read-repair.
// Only when auth says there is no such user is the answer 404; when auth
// cannot be reached it is 503, and the profile will come with the event.
//
// The service has no settings of its own.
//
// # Routes
//
//	GET   /api/v1/users/me      user              → Profile
//	PATCH /api/v1/users/me      user              {name} → Profile
//	GET   /internal/users/{id}  service or admin  → Profile
package user

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/souk/souk/platform/httpapi"
)

// Profile is a user's profile.
type Profile struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// UpdateRequest is the body of PATCH /api/v1/users/me.
type UpdateRequest struct {
	Name string `json:"name"`
}

// Normalize returns r with the name trimmed, as it is validated and stored.
func (r UpdateRequest) Normalize() UpdateRequest {
	r.Name = strings.TrimSpace(r.Name)
	return r
}

// Validate reports every invalid field of a normalized request.
func (r UpdateRequest) Validate() error {
	var v httpapi.Validator
	n := utf8.RuneCountInString(r.Name)
	v.Check(n >= 1 && n <= 100 && strings.IndexFunc(r.Name, unicode.IsControl) < 0,
		"name", "must be 1 to 100 characters without control characters")
	return v.Err()
}

// validID reports whether id can be a user id; the longest real one is a
// 36-character UUID.
func validID(id string) bool { return id != "" && len(id) <= 64 }
