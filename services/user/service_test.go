package user

import (
	"context"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/events"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

// clock is a settable clock shared by a test and the code under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeAccounts is the auth service as read-repair sees it.
type fakeAccounts struct {
	mu       sync.Mutex
	accounts map[string]Account
	err      error // returned by every call when set
	calls    int
}

func (f *fakeAccounts) Account(_ context.Context, id string) (Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return Account{}, f.err
	}
	a, ok := f.accounts[id]
	if !ok {
		return Account{}, fault.NotFoundf("no user %s", id)
	}
	return a, nil
}

func (f *fakeAccounts) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var created = time.Date(2026, 11, 27, 11, 59, 0, 0, time.UTC)

var ada = Account{ID: "0190c8f8-0000-7000-8000-0000000000ad", Email: "ada@example.com", Name: "Ada", Role: "customer", CreatedAt: created}

type fixture struct {
	svc      *Service
	db       *sqlstore.DB
	clk      *clock
	accounts *fakeAccounts
}

func newFixture(t *testing.T, open func(fs.FS) *sqlstore.DB) *fixture {
	f := &fixture{db: open(Migrations()), clk: newClock(), accounts: &fakeAccounts{accounts: map[string]Account{ada.ID: ada}}}
	f.svc = NewService(f.db, f.clk.Now, f.accounts)
	return f
}

func registered(t *testing.T, a Account) events.Event {
	t.Helper()
	ev, err := events.New(EventUserRegistered, "auth", a.ID, UserRegistered{UserID: a.ID, Email: a.Email, Name: a.Name, Role: a.Role})
	if err != nil {
		t.Fatal(err)
	}
	ev.Time = a.CreatedAt
	return ev
}

func (f *fixture) profile(t *testing.T, id string) Profile {
	t.Helper()
	p, found, err := f.svc.store.profile(context.Background(), f.db, id)
	if err != nil || !found {
		t.Fatalf("profile %s: found %v, %v", id, found, err)
	}
	return p
}

func TestConsumerAppliesEachEventOnce(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		f := newFixture(t, open)
		ctx := context.Background()
		ev := registered(t, ada)
		if err := f.svc.HandleUserRegistered(ctx, ev); err != nil {
			t.Fatal(err)
		}
		want := Profile{ID: ada.ID, Email: ada.Email, Name: ada.Name, Role: ada.Role, CreatedAt: created, UpdatedAt: f.clk.Now()}
		if diff := cmp.Diff(want, f.profile(t, ada.ID)); diff != "" {
			t.Fatalf("profile (-want +got):\n%s", diff)
		}

		// Redelivered later: no second write, so updated_at stays.
		f.clk.Advance(time.Minute)
		if err := f.svc.HandleUserRegistered(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, f.profile(t, ada.ID)); diff != "" {
			t.Errorf("profile after a redelivery (-want +got):\n%s", diff)
		}
		var inbox int
		_ = f.db.QueryRow(ctx, `SELECT COUNT(*) FROM inbox WHERE consumer = ? AND event_id = ?`, registeredConsumer.Durable, ev.ID).Scan(&inbox)
		if inbox != 1 {
			t.Errorf("inbox rows = %d, want 1", inbox)
		}

		// Another event for the same user is another write.
		changed := ada
		changed.Email = "ada@lovelace.example"
		if err := f.svc.HandleUserRegistered(ctx, registered(t, changed)); err != nil {
			t.Fatal(err)
		}
		if got := f.profile(t, ada.ID); got.Email != changed.Email || !got.UpdatedAt.Equal(f.clk.Now()) {
			t.Errorf("profile after another event = %+v, want email %s updated at %v", got, changed.Email, f.clk.Now())
		}
	})
}

func TestConsumerRejectsPoison(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		f := newFixture(t, open)
		ctx := context.Background()
		for name, data := range map[string]string{
			"not json":   `{"user_id":`,
			"wrong type": `{"user_id":7}`,
			"no user id": `{"email":"ada@example.com"}`,
			"no email":   `{"user_id":"u1"}`,
		} {
			ev := registered(t, ada)
			ev.Data = []byte(data)
			if err := f.svc.HandleUserRegistered(ctx, ev); !events.IsPermanent(err) {
				t.Errorf("%s: err = %v, want a permanent error", name, err)
			}
		}
		var rows int
		_ = f.db.QueryRow(ctx, `SELECT COUNT(*) FROM inbox`).Scan(&rows)
		if rows != 0 {
			t.Errorf("inbox rows = %d after poison events, want 0", rows)
		}
	})
}

func TestReadRepair(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		f := newFixture(t, open)
		ctx := context.Background()

		p, err := f.svc.Profile(ctx, ada.ID)
		if err != nil {
			t.Fatalf("profile before the event: %v", err)
		}
		want := Profile{ID: ada.ID, Email: ada.Email, Name: ada.Name, Role: ada.Role, CreatedAt: created, UpdatedAt: f.clk.Now()}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("repaired profile (-want +got):\n%s", diff)
		}
		// Stored: the next read does not ask auth.
		if _, err := f.svc.Profile(ctx, ada.ID); err != nil || f.accounts.Calls() != 1 {
			t.Errorf("second read: %v after %d calls to auth, want 1", err, f.accounts.Calls())
		}

		if _, err := f.svc.Profile(ctx, "0190c8f8-0000-7000-8000-00000000dead"); !fault.Is(err, fault.NotFound) {
			t.Errorf("unknown to auth: err = %v, want NotFound", err)
		}

		// Auth down: the caller learns it is unavailable, nothing is stored.
		f.accounts.err = fault.Unavailablef("auth is down")
		other := "0190c8f8-0000-7000-8000-0000000000bb"
		if _, err := f.svc.Profile(ctx, other); !fault.Is(err, fault.Unavailable) {
			t.Errorf("auth down: err = %v, want Unavailable", err)
		}
		if _, found, _ := f.svc.store.profile(ctx, f.db, other); found {
			t.Error("a profile was stored although auth did not answer")
		}
	})
}

func TestUpdateNameSurvivesLateEvent(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		f := newFixture(t, open)
		ctx := context.Background()
		f.clk.Advance(time.Second)
		// The user renames themselves before USER_REGISTERED is projected.
		p, err := f.svc.UpdateName(ctx, ada.ID, UpdateRequest{Name: "  Countess of Lovelace "})
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "Countess of Lovelace" || !p.UpdatedAt.Equal(f.clk.Now()) {
			t.Errorf("updated profile = %+v", p)
		}
		f.clk.Advance(time.Second)
		if err := f.svc.HandleUserRegistered(ctx, registered(t, ada)); err != nil {
			t.Fatal(err)
		}
		if got := f.profile(t, ada.ID); got.Name != "Countess of Lovelace" {
			t.Errorf("name after the late event = %q, want the user's own", got.Name)
		}

		if _, err := f.svc.UpdateName(ctx, ada.ID, UpdateRequest{Name: "   "}); !fault.Is(err, fault.Invalid) {
			t.Errorf("blank name: err = %v, want Invalid", err)
		}
		if _, err := f.svc.UpdateName(ctx, "0190c8f8-0000-7000-8000-00000000dead", UpdateRequest{Name: "Bob"}); !fault.Is(err, fault.NotFound) {
			t.Errorf("unknown user: err = %v, want NotFound", err)
		}
	})
}

func TestValidateName(t *testing.T) {
	long := ""
	for range 101 {
		long += "é"
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"Ada", true},
		{"  Ada  ", true},
		{"Ada Lovelace 👩‍💻", true},
		{long[:200], true}, // 100 two-byte characters
		{long, false},
		{"", false},
		{" \t ", false},
		{"Ada\x00", false},
		{"Ada\u200bLovelace", true}, // format characters are not control characters
		{"Ada\nLovelace", false},
	}
	for _, tt := range tests {
		err := UpdateRequest{Name: tt.name}.Normalize().Validate()
		if (err == nil) != tt.ok {
			t.Errorf("name %q: err = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && !fault.Is(err, fault.Invalid) {
			t.Errorf("name %q: err = %v, want Invalid", tt.name, err)
		}
	}
}
