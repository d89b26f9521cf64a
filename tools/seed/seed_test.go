package seed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/souk/souk/platform/authn"
	"github.com/souk/souk/platform/fault"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/services/notification"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/services/warehouse"
	"github.com/souk/souk/tools/verify"
)

// testNow fixes the history, so runs are comparable.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fastArgon2 keeps the one hash of a test cheap; the parameters travel in
// the hash, so logins verify it with them.
var fastArgon2 = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// sqliteDSN is the layout `souk up` uses under a data folder.
func sqliteDSN(dir string) func(string) string {
	return func(svc string) string { return filepath.Join(dir, svc, svc+".db") }
}

// postgresDSN gives every service a schema of its own on the test server.
func postgresDSN(t *testing.T, base string) func(string) string {
	dsns := map[string]string{}
	for _, svc := range Services {
		dsns[svc] = sqlstoretest.Schema(t, base)
	}
	return func(svc string) string { return dsns[svc] }
}

// backends runs fn on SQLite, and on PostgreSQL when SOUK_TEST_POSTGRES is
// set.
func backends(t *testing.T, fn func(t *testing.T, dsn func(string) string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteDSN(t.TempDir())) })
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv(sqlstoretest.EnvPostgres)
		if base == "" {
			t.Skipf("PostgreSQL not tested: set %s to a DSN such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable", sqlstoretest.EnvPostgres)
		}
		fn(t, postgresDSN(t, base))
	})
}

// openAll opens every service's database the way the services do; the
// databases close when the test ends (before any schema is dropped).
func openAll(t *testing.T, dsn func(string) string) map[string]*sqlstore.DB {
	t.Helper()
	dbs := map[string]*sqlstore.DB{}
	for _, svc := range Services {
		db, err := sqlstore.Open(context.Background(), sqlstore.Options{DSN: dsn(svc), Name: svc, Migrations: migrations(svc)})
		if err != nil {
			t.Fatalf("open %s: %v", svc, err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[svc] = db
	}
	return dbs
}

func TestRunKeepsTheInvariants(t *testing.T) {
	backends(t, func(t *testing.T, dsn func(string) string) {
		ctx := context.Background()
		const users, orders = 200, 1000
		rep, err := Run(ctx, Config{DSN: dsn, Users: users, Orders: orders, Batch: 300, Now: testNow, Argon2: fastArgon2})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Users != users || rep.Orders != orders {
			t.Errorf("report: got %d users %d orders, want %d %d", rep.Users, rep.Orders, users, orders)
		}
		// Exact per service but inventory, whose items vary.
		for svc, want := range map[string]int64{"auth": users, "user": users, "order": 6 * orders, "payment": 2 * orders, "notification": orders, "warehouse": orders} {
			if got := rep.Rows[svc]; got != want {
				t.Errorf("rows in %s: got %d, want %d", svc, got, want)
			}
		}
		if rep.Rows["inventory"] < 2*orders || rep.Rows["inventory"] > 4*orders+30*((orders+299)/300) {
			t.Errorf("rows in inventory: got %d, want from %d to about %d", rep.Rows["inventory"], 2*orders, 4*orders)
		}
		dbs := openAll(t, dsn)

		// The checks of `souk verify`, on the services' own audits.
		got := verify.Check(auditAll(t, dbs), nil)
		if !got.OK {
			for _, c := range got.Failed() {
				t.Errorf("verify %s: %s (%d ids, first %v)", c.Name, c.Detail, c.ViolationCount, c.Violations[:min(3, len(c.Violations))])
			}
		}
		s := got.Summary
		if s.Orders != orders || s.Confirmed != orders || s.Charges != orders || s.Reservations != orders || s.Emails != orders || s.Tasks != orders {
			t.Errorf("verify summary: got %+v, want %d of everything", s, orders)
		}
		var sold int64
		for _, st := range auditAll(t, dbs).Stock {
			sold += st.Sold
		}
		if sold == 0 {
			t.Error("no units sold in stock")
		}

		// The relay has nothing to publish.
		var unpublished int
		if err := dbs["order"].QueryRow(ctx, `SELECT COUNT(*) FROM order_events WHERE published_at IS NULL`).Scan(&unpublished); err != nil {
			t.Fatal(err)
		}
		if unpublished != 0 {
			t.Errorf("unpublished order events: got %d, want 0", unpublished)
		}
	})
}

func TestSeededUsersAndOrders(t *testing.T) {
	ctx := context.Background()
	dsn := sqliteDSN(t.TempDir())
	const users, orders = 20, 100
	if _, err := Run(ctx, Config{DSN: dsn, Users: users, Orders: orders, Batch: 7, Now: testNow, Argon2: fastArgon2}); err != nil {
		t.Fatal(err)
	}
	dbs := openAll(t, dsn)

	// Every seeded user logs in with the documented password.
	authSvc, err := auth.NewService(ctx, dbs["auth"], time.Now, auth.Config{TokenTTL: time.Minute, Argon2: fastArgon2, MaxHashes: 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, users} {
		if _, err := authSvc.Login(ctx, auth.LoginRequest{Email: Email(i), Password: Password}); err != nil {
			t.Errorf("log in %s: %v", Email(i), err)
		}
	}
	if _, err := authSvc.Login(ctx, auth.LoginRequest{Email: Email(1), Password: "wrong-password-1"}); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("log in with a wrong password: got %v, want unauthorized", err)
	}

	// Each user has orders/users orders; the read model is the fold of
	// the events; each order has a profile-backed customer.
	store := order.NewStore(dbs["order"])
	orderSvc := order.NewService(order.Options{DB: dbs["order"]})
	list := func(id string, limit int) order.Page {
		t.Helper()
		page, err := orderSvc.List(ctx, &authn.Principal{Subject: id, Role: authn.RoleCustomer}, false, "", limit)
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	profiles := user.NewService(dbs["user"], time.Now, nil)
	u1, err := authUser(ctx, dbs["auth"], Email(1))
	if err != nil {
		t.Fatal(err)
	}
	p, err := profiles.Profile(ctx, u1)
	if err != nil {
		t.Fatalf("profile of %s: %v", Email(1), err)
	}
	if p.Email != Email(1) || p.Name != "Seed User 1" {
		t.Errorf("profile: got %s %q, want %s %q", p.Email, p.Name, Email(1), "Seed User 1")
	}
	seen := 0
	for i := 1; i <= users; i++ {
		id, err := authUser(ctx, dbs["auth"], Email(i))
		if err != nil {
			t.Fatal(err)
		}
		page := list(id, 50)
		if got, want := len(page.Items), orders/users; got != want {
			t.Errorf("orders of %s: got %d, want %d", Email(i), got, want)
		}
		for _, v := range page.Items {
			seen++
			folded, err := store.Load(ctx, v.ID)
			if err != nil {
				t.Fatal(err)
			}
			folded.Step, folded.Version = "", 0 // not in the view's JSON
			folded.Email, folded.Name = "", ""
			if diff := cmp.Diff(v, folded); diff != "" {
				t.Fatalf("order %s: view and fold differ (-view +fold):\n%s", v.ID, diff)
			}
			if v.Status != order.StatusConfirmed || v.Payment == nil || v.Payment.Last4 != "4242" {
				t.Errorf("order %s: got %s with payment %+v, want CONFIRMED paid by 4242", v.ID, v.Status, v.Payment)
			}
			if !v.CreatedAt.Before(testNow) {
				t.Errorf("order %s created at %v, want before %v", v.ID, v.CreatedAt, testNow)
			}
		}
	}
	if seen != orders {
		t.Errorf("orders listed: got %d, want %d", seen, orders)
	}

	// The events are those of a checkout, in order.
	page := list(u1, 1)
	evs, err := store.Events(ctx, page.Items[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	want := []string{order.EventCreated, order.EventStockReserved, order.EventPaymentCaptured, order.EventPlaced}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// My notifications: the confirmation email, naming the order.
	msgs, err := notification.NewService(dbs["notification"], time.Now).List(ctx, u1, "", 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Items) != orders/users || !strings.Contains(msgs.Items[0].Body, "is confirmed") {
		t.Errorf("messages of %s: got %d, first %+v", Email(1), len(msgs.Items), msgs.Items[:min(1, len(msgs.Items))])
	}
}

func TestSeedingTwiceFailsBeforeAnyOrder(t *testing.T) {
	ctx := context.Background()
	dsn := sqliteDSN(t.TempDir())
	cfg := Config{DSN: dsn, Users: 5, Orders: 10, Now: testNow, Argon2: fastArgon2}
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	_, err := Run(ctx, cfg)
	if !fault.Is(err, fault.Conflict) {
		t.Fatalf("second seed: got %v, want a conflict (email_taken)", err)
	}
	dbs := openAll(t, dsn)
	var n int
	if err := dbs["order"].QueryRow(ctx, `SELECT COUNT(*) FROM orders`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 10 {
		t.Errorf("orders after the failed second seed: got %d, want 10", n)
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	cfg := Config{Users: 3, Orders: 50, Seed: 7, Now: testNow, Span: time.Hour}
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate without DSN: got nil, want an error")
	}
	cfg.DSN = sqliteDSN(t.TempDir())
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, b := newGenerator(cfg), newGenerator(cfg)
	// A batch generated alone equals the same orders generated in one go.
	all := a.orders(0, 50)
	part := b.orders(20, 30)
	for i, o := range part {
		if diff := cmp.Diff(all[20+i].placed, o.placed); diff != "" {
			t.Fatalf("order %d differs between runs (-first +second):\n%s", 20+i, diff)
		}
	}
	perUser := map[string]int{}
	var last time.Time
	for _, o := range all {
		perUser[o.customer.email]++
		if o.placed.Created.CreatedAt.Before(last) {
			t.Errorf("order %d created at %v, before the previous one at %v", o.index, o.placed.Created.CreatedAt, last)
		}
		last = o.placed.Created.CreatedAt
		if !o.placed.PlacedAt.After(o.placed.Created.CreatedAt) {
			t.Errorf("order %d placed at %v, not after its creation", o.index, o.placed.PlacedAt)
		}
		if got := v7Time(o.placed.Created.OrderID); !got.Equal(o.placed.Created.CreatedAt) {
			t.Errorf("order %d: id time %v, want its creation %v", o.index, got, o.placed.Created.CreatedAt)
		}
		var sum int64
		for _, it := range o.placed.Created.Items {
			sum += it.PriceCents * it.Quantity
		}
		if sum != o.placed.Created.TotalCents || len(o.placed.Created.Items) < 1 || len(o.placed.Created.Items) > 3 {
			t.Errorf("order %d: %d items totalling %d, total %d", o.index, len(o.placed.Created.Items), sum, o.placed.Created.TotalCents)
		}
	}
	for email, n := range perUser {
		if n < 16 || n > 17 {
			t.Errorf("orders of %s: got %d, want 16 or 17", email, n)
		}
	}
	if !last.Before(testNow.Add(-time.Hour)) {
		t.Errorf("last order at %v, want before an hour before %v", last, testNow)
	}
}

func TestConfigValidate(t *testing.T) {
	dsn := sqliteDSN("x")
	tests := []struct {
		name string
		cfg  Config
		want string // "" when valid
	}{
		{"valid", Config{DSN: dsn, Users: 1, Orders: 1}, ""},
		{"users only", Config{DSN: dsn, Users: 1}, ""},
		{"no dsn", Config{Users: 1}, "DSN"},
		{"orders without users", Config{DSN: dsn, Orders: 1}, "at least one user"},
		{"negative", Config{DSN: dsn, Users: -1}, "negative"},
		{"batch too big", Config{DSN: dsn, Users: 1, Batch: MaxBatch + 1}, "batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error about %q", err, tt.want)
			}
		})
	}
	c := Config{DSN: dsn, Users: 1}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Batch != DefaultBatch || c.Seed != 1 || c.Span != DefaultSpan || c.Argon2 != auth.DefaultArgon2 || c.Now.IsZero() {
		t.Errorf("defaults: got %+v", c)
	}
}

func TestExplain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Explain(ctx, sqliteDSN(dir), 1); err == nil {
		t.Error("Explain of a missing store: got nil, want an error")
	}
	if _, err := Run(ctx, Config{DSN: sqliteDSN(dir), Users: 10, Orders: 100, Now: testNow, Argon2: fastArgon2}); err != nil {
		t.Fatal(err)
	}
	plans, err := Explain(ctx, sqliteDSN(dir), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != len(hotQueries) {
		t.Fatalf("plans: got %d, want %d", len(plans), len(hotQueries))
	}
	byName := map[string]Plan{}
	for _, p := range plans {
		byName[p.Service+" "+strings.Fields(p.Name)[0]] = p
		if p.TableScan {
			t.Errorf("%s %s scans a table: %v", p.Service, p.Name, p.Plan)
		}
		if len(p.Plan) == 0 || p.Runs != 5 || p.MedianUS <= 0 {
			t.Errorf("%s %s: got %+v", p.Service, p.Name, p)
		}
	}
	for name, want := range map[string]float64{"order list_by_customer": 10, "order events_by_order": 4, "order view_by_id": 1, "order idempotency_lookup": 1, "order stalled_scan": 0} {
		if got := byName[name].Rows; got != want {
			t.Errorf("%s: got %.1f rows, want %.0f", name, got, want)
		}
	}
	if err := WritePlans(io.Discard, plans); err != nil {
		t.Fatal(err)
	}
}

// authUser returns the id of the account with email.
func authUser(ctx context.Context, db *sqlstore.DB, email string) (string, error) {
	var id string
	err := db.QueryRow(ctx, `SELECT id FROM users WHERE email = ?`, email).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("user %s: %w", email, err)
	}
	return id, nil
}

// auditAll reads the six audits as the admin routes serve them, through
// the services' own audit functions, into verify's types.
func auditAll(t *testing.T, dbs map[string]*sqlstore.DB) verify.Data {
	t.Helper()
	ctx := context.Background()
	var d verify.Data
	const limit = 1000

	ostore := order.NewStore(dbs["order"])
	for after := ""; ; {
		rows, err := ostore.Audit(ctx, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		d.Orders = append(d.Orders, convert[verify.Order](t, rows)...)
		if len(rows) < limit {
			break
		}
		after = rows[len(rows)-1].OrderID
	}
	pstore := payment.NewStore(dbs["payment"])
	for after := ""; ; {
		rows, err := pstore.Audit(ctx, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		d.Charges = append(d.Charges, convert[verify.Charge](t, rows)...)
		if len(rows) < limit {
			break
		}
		after = rows[len(rows)-1].OrderID
	}
	inv := inventory.NewService(dbs["inventory"], time.Now, time.Minute)
	for cur := ""; ; {
		p, err := inv.AuditStock(ctx, cur, limit)
		if err != nil {
			t.Fatal(err)
		}
		d.Stock = append(d.Stock, convert[verify.Stock](t, p.Items)...)
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	for cur := ""; ; {
		p, err := inv.AuditReservations(ctx, cur, limit)
		if err != nil {
			t.Fatal(err)
		}
		d.Reservations = append(d.Reservations, convert[verify.Reservation](t, p.Items)...)
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	ns := notification.NewService(dbs["notification"], time.Now)
	for cur := ""; ; {
		p, err := ns.Audit(ctx, cur, limit)
		if err != nil {
			t.Fatal(err)
		}
		d.Notifications = append(d.Notifications, convert[verify.Notification](t, p.Items)...)
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	ws := warehouse.NewService(dbs["warehouse"], time.Now, nil)
	for cur := ""; ; {
		p, err := ws.Audit(ctx, cur, limit)
		if err != nil {
			t.Fatal(err)
		}
		d.Tasks = append(d.Tasks, convert[verify.Task](t, p.Items)...)
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	return d
}

// convert re-decodes v's JSON as []T, as the gateway's client would.
func convert[T any](t *testing.T, v any) []T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
