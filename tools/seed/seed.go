package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/services/auth"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/services/notification"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/services/payment"
	"github.com/souk/souk/services/user"
	"github.com/souk/souk/services/warehouse"
)

// Password is the password of every seeded user.
const Password = "souk-seed-password-1"

// Email returns the email of seeded user i (from 1): seed-<i>@example.com.
func Email(i int) string { return "seed-" + strconv.Itoa(i) + "@example.com" }

// Services are the services whose databases a seed writes, in the order
// they are written.
var Services = []string{"auth", "user", "order", "payment", "inventory", "notification", "warehouse"}

// migrations returns a service's schema.
func migrations(service string) fs.FS {
	switch service {
	case "auth":
		return auth.Migrations()
	case "user":
		return user.Migrations()
	case "order":
		return order.Migrations()
	case "payment":
		return payment.Migrations()
	case "inventory":
		return inventory.Migrations()
	case "notification":
		return notification.Migrations()
	case "warehouse":
		return warehouse.Migrations()
	}
	return nil
}

// Defaults of Config.
const (
	DefaultBatch = 5000
	DefaultSpan  = 365 * 24 * time.Hour
	MaxBatch     = 100_000
)

// Config is one seeding.
type Config struct {
	// DSN returns the database of a service, as `souk up` would open it:
	// a PostgreSQL URL or the path of its SQLite file. Required.
	DSN func(service string) string
	// Users is how many users to create (at least 1 when Orders > 0).
	Users int
	// Orders is how many confirmed orders to spread over the users.
	Orders int
	// Batch is how many users or orders one transaction writes (default
	// DefaultBatch, at most MaxBatch).
	Batch int
	// Seed makes the data reproducible (default 1).
	Seed uint64
	// Now is the end of the history: orders end an hour before it (default
	// time.Now()).
	Now time.Time
	// Span is how long the orders are spread over (default DefaultSpan).
	Span time.Duration
	// Argon2 are the parameters of the users' shared password hash
	// (default auth.DefaultArgon2, what auth uses unless SOUK_AUTH_ARGON2
	// says otherwise; a login with other parameters rehashes).
	Argon2 auth.Argon2Params
	// Progress receives a line a second; nil discards them.
	Progress io.Writer
}

// Validate fills the defaults and reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.DSN == nil:
		return errors.New("seed: no DSN function")
	case c.Users < 0 || c.Orders < 0:
		return errors.New("seed: users and orders must not be negative")
	case c.Orders > 0 && c.Users == 0:
		return errors.New("seed: orders need at least one user")
	case c.Batch < 0 || c.Batch > MaxBatch:
		return fmt.Errorf("seed: batch %d: want 1 to %d", c.Batch, MaxBatch)
	case c.Span < 0:
		return errors.New("seed: span must not be negative")
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	if c.Span == 0 {
		c.Span = DefaultSpan
	}
	if c.Argon2 == (auth.Argon2Params{}) {
		c.Argon2 = auth.DefaultArgon2
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

// Report is what a seed wrote.
type Report struct {
	Users  int `json:"users"`
	Orders int `json:"orders"`
	// Rows are the rows written per service.
	Rows          map[string]int64 `json:"rows"`
	TotalRows     int64            `json:"total_rows"`
	Seconds       float64          `json:"seconds"`
	RowsPerSecond float64          `json:"rows_per_second"`
	// HashMillis is how long the one shared password hash took.
	HashMillis float64 `json:"hash_ms"`
}

// Run opens every database of Services (applying migrations) and writes
// cfg.Users users and cfg.Orders orders; see the package doc. It returns
// the first error, of the configuration, of opening a database or of a
// write, wrapped with the service's name.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	began := time.Now()
	dbs := map[string]*sqlstore.DB{}
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
	}()
	for _, svc := range Services {
		db, err := open(ctx, svc, cfg.DSN(svc))
		if err != nil {
			return Report{}, err
		}
		dbs[svc] = db
	}

	fmt.Fprintf(cfg.Progress, "seed: hashing the shared password once (argon2id %s)\n", cfg.Argon2)
	t0 := time.Now()
	hash, err := auth.NewHasher(cfg.Argon2, 1).Hash(ctx, Password)
	if err != nil {
		return Report{}, fmt.Errorf("seed: hash the password: %w", err)
	}
	hashTime := time.Since(t0)
	fmt.Fprintf(cfg.Progress, "seed: one hash took %v; %d of them would take %v on one core\n",
		hashTime.Round(time.Millisecond), cfg.Users, (hashTime * time.Duration(max(cfg.Users, 1))).Round(time.Second))

	g := newGenerator(cfg)
	w := &writers{
		auth: auth.NewStore(dbs["auth"]), user: user.NewStore(dbs["user"]), order: order.NewStore(dbs["order"]),
		payment: payment.NewStore(dbs["payment"]), inventory: inventory.NewStore(dbs["inventory"]),
		notification: notification.NewService(dbs["notification"], time.Now), warehouse: warehouse.NewStore(dbs["warehouse"]),
		hash: hash,
	}
	prog := newProgress(cfg, began)
	stop := prog.start()
	err = seedUsers(ctx, cfg, g, dbs, w, prog)
	if err == nil {
		err = seedOrders(ctx, cfg, g, dbs, w, prog)
	}
	stop()

	rep := Report{Users: cfg.Users, Orders: cfg.Orders, Rows: map[string]int64{}, HashMillis: float64(hashTime.Microseconds()) / 1000}
	for _, svc := range Services {
		n := prog.rows[svc].Load()
		rep.Rows[svc] = n
		rep.TotalRows += n
	}
	for svc, db := range dbs {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("seed %s: %w", svc, cerr)
		}
		delete(dbs, svc)
	}
	rep.Seconds = time.Since(began).Seconds()
	if rep.Seconds > 0 {
		rep.RowsPerSecond = float64(rep.TotalRows) / rep.Seconds
	}
	if err != nil {
		return rep, err
	}
	fmt.Fprintf(cfg.Progress, "seed: done: %d users, %d orders, %d rows in %.1fs (%.0f rows/s)\n",
		rep.Users, rep.Orders, rep.TotalRows, rep.Seconds, rep.RowsPerSecond)
	return rep, nil
}

// seedCacheKiB is the page cache of each seeding write connection: the
// indexes of a million orders are random-access (by customer, by user),
// and SQLite's default 2 MB cache would turn each insert into reads.
const seedCacheKiB = 256 * 1024

func open(ctx context.Context, svc, dsn string) (*sqlstore.DB, error) {
	if dsn == "" {
		return nil, fmt.Errorf("seed %s: no database", svc)
	}
	db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: dsn, Name: svc, Migrations: migrations(svc), Durability: sqlstore.Normal})
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", svc, err)
	}
	if db.Dialect() == sqlstore.SQLite {
		// The write pool is one connection, kept open: the setting lasts.
		if _, err := db.Exec(ctx, "PRAGMA cache_size = -"+strconv.Itoa(seedCacheKiB)); err != nil {
			db.Close()
			return nil, fmt.Errorf("seed %s: cache size: %w", svc, err)
		}
	}
	return db, nil
}

// progress counts what the writers committed and prints a line a second.
type progress struct {
	cfg    Config
	began  time.Time
	rows   map[string]*atomic.Int64
	done   map[string]*atomic.Int64 // users or orders committed per service
	phase  atomic.Value             // "users" or "orders"
	closed chan struct{}
}

func newProgress(cfg Config, began time.Time) *progress {
	p := &progress{cfg: cfg, began: began, rows: map[string]*atomic.Int64{}, done: map[string]*atomic.Int64{}, closed: make(chan struct{})}
	for _, svc := range Services {
		p.rows[svc], p.done[svc] = new(atomic.Int64), new(atomic.Int64)
	}
	p.phase.Store("users")
	return p
}

func (p *progress) commit(svc string, items, rows int) {
	p.done[svc].Add(int64(items))
	p.rows[svc].Add(int64(rows))
}

func (p *progress) totalRows() int64 {
	var n int64
	for _, r := range p.rows {
		n += r.Load()
	}
	return n
}

// start prints a line a second until the returned stop is called.
func (p *progress) start() (stop func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.closed:
				return
			case <-t.C:
				p.print()
			}
		}
	}()
	return func() {
		close(p.closed)
		wg.Wait()
	}
}

func (p *progress) print() {
	el := time.Since(p.began).Seconds()
	rows := p.totalRows()
	if p.phase.Load() == "users" {
		fmt.Fprintf(p.cfg.Progress, "seed: users %d/%d  rows %d  %.0f rows/s  %.0fs\n",
			min(p.done["auth"].Load(), p.done["user"].Load()), p.cfg.Users, rows, float64(rows)/el, el)
		return
	}
	slowest, name := int64(-1), ""
	for _, svc := range orderServices {
		if d := p.done[svc].Load(); slowest < 0 || d < slowest {
			slowest, name = d, svc
		}
	}
	pct := 100 * float64(slowest) / float64(max(p.cfg.Orders, 1))
	fmt.Fprintf(p.cfg.Progress, "seed: orders %d/%d (%.0f%%, slowest: %s)  rows %d  %.0f rows/s  %.0fs\n",
		slowest, p.cfg.Orders, pct, name, rows, float64(rows)/el, el)
}

// orderServices are the databases every order writes to.
var orderServices = []string{"order", "payment", "inventory", "notification", "warehouse"}

// seedUsers writes the users to auth, then their profiles to user.
func seedUsers(ctx context.Context, cfg Config, g *generator, dbs map[string]*sqlstore.DB, w *writers, prog *progress) error {
	for _, svc := range []string{"auth", "user"} {
		for from := 1; from <= cfg.Users; from += cfg.Batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			us := g.users(from, min(from+cfg.Batch, cfg.Users+1))
			rows := 0
			err := dbs[svc].Tx(ctx, func(tx *sqlstore.Tx) error {
				var err error
				rows, err = w.writeUsers(ctx, tx, svc, us)
				return err
			})
			if err != nil {
				return fmt.Errorf("seed %s: users %d to %d: %w", svc, from, from+len(us)-1, err)
			}
			prog.commit(svc, len(us), rows)
		}
	}
	return nil
}

// seedOrders generates the orders in batches and has the five writers
// write each batch to their database, in parallel.
func seedOrders(ctx context.Context, cfg Config, g *generator, dbs map[string]*sqlstore.DB, w *writers, prog *progress) error {
	prog.phase.Store("orders")
	if cfg.Orders == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	chans := make([]chan []orderRec, len(orderServices))
	var wg sync.WaitGroup
	for i, svc := range orderServices {
		chans[i] = make(chan []orderRec, 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range chans[i] {
				if ctx.Err() != nil {
					continue // drain, so the generator never blocks
				}
				rows := 0
				err := dbs[svc].Tx(ctx, func(tx *sqlstore.Tx) error {
					var err error
					rows, err = w.writeOrders(ctx, tx, svc, batch)
					return err
				})
				if err != nil {
					cancel(fmt.Errorf("seed %s: orders %d to %d: %w", svc, batch[0].index+1, batch[len(batch)-1].index+1, err))
					continue
				}
				prog.commit(svc, len(batch), rows)
			}
		}()
	}
	for from := 0; from < cfg.Orders && ctx.Err() == nil; from += cfg.Batch {
		batch := g.orders(from, min(from+cfg.Batch, cfg.Orders))
		for _, ch := range chans {
			ch <- batch
		}
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}
