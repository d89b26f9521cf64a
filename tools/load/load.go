package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/souk/souk/sampledata"
	"github.com/souk/souk/tools/client"
)

// RestockLevel is the stock every product is set to before a run with
// orders.
const RestockLevel = 1_000_000

// Config is one run of the load generator.
type Config struct {
	Gateway  string        // the gateway's URL, http://host:port
	Rate     float64       // journeys started per second, > 0
	Duration time.Duration // how long arrivals are scheduled, > 0
	Mix      Mix           // the zero Mix means DefaultMix
	Users    int           // customers created in setup (when the mix has order, login or my_orders)
	// Accounts are existing customers (the users of `souk seed`, say)
	// logged in during setup and added to the pool with the created ones.
	Accounts []Account

	// Restock sets every product's stock to RestockLevel as the admin
	// before a run whose mix has orders.
	Restock                   bool
	AdminEmail, AdminPassword string

	MaxInflight   int           // in-flight cap; beyond it arrivals are dropped (default 20000)
	MaxConns      int           // connections to the gateway (default 1024)
	Timeout       time.Duration // per request (default 10s)
	DrainTimeout  time.Duration // wait for in-flight requests at the end (default Timeout+1s, at least 10s)
	SetupParallel int           // signups at a time in setup (default 8)
	AnonymousIPs  int           // fake addresses of anonymous journeys (default 512)
	TokenMaxAge   time.Duration // re-login users with older tokens (default 10m)

	// Clock paces the scheduler; nil is the wall clock. Latencies are
	// always measured on the wall clock, so a test clock must follow it.
	Clock Clock

	// OrdersOut, when set, receives a JSON line per accepted or ambiguous
	// order (see OrderLog).
	OrdersOut io.Writer
	// Progress receives the setup and per-second progress lines; nil
	// discards them.
	Progress io.Writer
}

// Validate reports the first invalid field, after filling defaults.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Gateway)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		return fmt.Errorf("gateway %q: want http://host:port", c.Gateway)
	case !(c.Rate > 0) || c.Rate > 1e6:
		return fmt.Errorf("rate %v: want more than 0 and at most 1000000 per second", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v: want more than 0", c.Duration)
	case c.Users < 0:
		return fmt.Errorf("users %d: want 0 or more", c.Users)
	case slices.ContainsFunc(c.Accounts, func(a Account) bool { return a.Email == "" || a.Password == "" }):
		return errors.New("accounts need an email and a password")
	case c.MaxInflight < 0, c.MaxConns < 0, c.Timeout < 0, c.DrainTimeout < 0, c.SetupParallel < 0, c.AnonymousIPs < 0, c.TokenMaxAge < 0:
		return errors.New("limits and timeouts must not be negative")
	}
	if c.Mix.total == 0 {
		c.Mix, _ = ParseMix(DefaultMix)
	}
	if c.Users == 0 && len(c.Accounts) == 0 && c.needsUsers() {
		return errors.New("the order, login and my_orders journeys need users: set users to 1 or more, or give accounts")
	}
	setDefault(&c.MaxInflight, 20000)
	setDefault(&c.MaxConns, 1024)
	setDefault(&c.Timeout, 10*time.Second)
	// A request may wait Timeout for a connection, then Timeout for its
	// answer; past that it is abandoned.
	setDefault(&c.DrainTimeout, max(10*time.Second, c.Timeout+time.Second))
	setDefault(&c.SetupParallel, 8)
	setDefault(&c.AnonymousIPs, 512)
	setDefault(&c.TokenMaxAge, 10*time.Minute)
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

// needsUsers reports whether the mix has a journey of a logged-in user.
func (c *Config) needsUsers() bool {
	return c.Mix.Weight("order") > 0 || c.Mix.Weight("login") > 0 || c.Mix.Weight("my_orders") > 0
}

// Account is an existing customer's credentials.
type Account struct {
	Email, Password string
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Report is the outcome of a run; its JSON form is what `souk load --json`
// prints.
type Report struct {
	Requests      int64          `json:"requests"`  // steps attempted, drops included
	Errors        int64          `json:"errors"`    // failed steps, drops included
	Completed     int64          `json:"completed"` // steps answered or failed on the wire
	Dropped       int64          `json:"dropped"`   // arrivals refused for the in-flight cap
	ThroughputRPS float64        `json:"throughput_rps"`
	DurationS     float64        `json:"duration_s"` // from the first arrival to the last completion
	Rate          float64        `json:"rate"`
	ScheduledS    float64        `json:"scheduled_s"` // the duration asked for
	Arrivals      int64          `json:"arrivals"`    // journeys scheduled
	Mix           map[string]int `json:"mix"`
	Users         int            `json:"users"` // users in the pool at the end
	Interrupted   bool           `json:"interrupted"`
	// ClientCPUMicros is the generator's own CPU time per completed step,
	// in microseconds (0 when not measurable).
	ClientCPUMicros float64               `json:"client_cpu_us_per_request"`
	Latency         Latency               `json:"latency_ms"`
	Steps           map[string]StepReport `json:"steps"`
	ErrorsBy        map[string]int64      `json:"errors_by"`
	Orders          Orders                `json:"orders"`
	Seconds         []Second              `json:"seconds"`
	Warnings        []string              `json:"warnings,omitempty"`
}

// Run sets up (catalog, restock, users), runs the schedule, and returns
// the report. Errors are for setup only: the gateway is unreachable or no
// user could be created. When ctx is done the run stops early and the
// report covers what ran.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Gateway)
	base := strings.TrimRight(cfg.Gateway, "/")
	setup := client.New(base).WithHTTP(&http.Client{Timeout: 30 * time.Second})
	rep := &Report{Rate: cfg.Rate, ScheduledS: cfg.Duration.Seconds(), Mix: cfg.Mix.Map(), Steps: map[string]StepReport{}, ErrorsBy: map[string]int64{}}
	warn := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		rep.Warnings = append(rep.Warnings, msg)
		fmt.Fprintln(cfg.Progress, "load: warning:", msg)
	}

	products, err := readCatalog(ctx, setup)
	if err != nil {
		var ae *client.APIError
		if !errors.As(err, &ae) {
			return nil, fmt.Errorf("setup: %w", err)
		}
		warn("%v; using the sample catalog's ids", err)
	}
	if len(products) == 0 {
		for _, p := range sampledata.Products {
			products = append(products, catalogItem{ID: p.ID, Name: p.Name})
		}
	}
	if cfg.Restock && cfg.Mix.Weight("order") > 0 {
		if err := restock(ctx, setup, cfg.AdminEmail, cfg.AdminPassword, products); err != nil {
			warn("restock: %v; orders may measure out_of_stock", err)
		}
	}

	runID := newRunID()
	pool := newUserPool(runID)
	if cfg.needsUsers() {
		failed, firstErr := setupUsers(ctx, setup, pool, cfg.Users, cfg.Accounts, cfg.SetupParallel, cfg.Progress)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		if pool.len() == 0 {
			return nil, fmt.Errorf("setup: no user could be created: %w", firstErr)
		}
		if failed > 0 {
			warn("%d of %d users could not be created or logged in, first: %v", failed, cfg.Users+len(cfg.Accounts), firstErr)
		}
	}

	d := newDriver(cfg, u, runID, pool, products)
	rep.Orders, rep.Arrivals, rep.Interrupted = d.measure(ctx, cfg, setup, rep)
	rep.Users = pool.len()
	return rep, nil
}

// newDriver builds the journeys' HTTP client and request material.
func newDriver(cfg Config, u *url.URL, runID string, pool *userPool, products []catalogItem) *driver {
	host := u.Host
	addr := host
	if u.Port() == "" {
		addr = fasthttp.AddMissingPort(host, u.Scheme == "https")
	}
	d := &driver{
		hc: &fasthttp.HostClient{
			Addr:                      addr,
			IsTLS:                     u.Scheme == "https",
			MaxConns:                  cfg.MaxConns,
			MaxConnWaitTimeout:        cfg.Timeout,
			MaxIdemponentCallAttempts: 1, // never resend: an order must not be placed twice by the client
			ReadTimeout:               cfg.Timeout,
			WriteTimeout:              cfg.Timeout,
			MaxIdleConnDuration:       30 * time.Second,
			NoDefaultUserAgentHeader:  true,
			DisablePathNormalizing:    true,
		},
		host:    host,
		timeout: cfg.Timeout,
		users:   pool,
		anon:    anonymousIPs(cfg.AnonymousIPs),
		runID:   runID,
		expYear: time.Now().Year() + 3,
	}
	d.hc.Name = "souk-load"
	var names []string
	for _, p := range products {
		q, _ := json.Marshal(p.ID)
		d.productIDs = append(d.productIDs, q)
		d.productPaths = append(d.productPaths, "/api/v1/products/"+url.PathEscape(p.ID))
		names = append(names, p.Name)
	}
	for _, w := range searchWords(names) {
		d.searchPaths = append(d.searchPaths, "/api/v1/search?q="+url.QueryEscape(w))
	}
	if len(d.searchPaths) == 0 {
		d.searchPaths = []string{"/api/v1/search?q=coffee"}
	}
	return d
}

// measure runs the schedule with progress lines and fills rep.
func (d *driver) measure(ctx context.Context, cfg Config, setup *client.Client, rep *Report) (orders Orders, arrivals int64, interrupted bool) {
	start := time.Now()
	d.rec = NewRecorder(start)
	d.orders = NewOrderLog(cfg.OrdersOut)
	mix := cfg.Mix
	eng := NewEngine(Schedule{
		Rate:        cfg.Rate,
		Duration:    cfg.Duration,
		MaxInflight: cfg.MaxInflight,
		Clock:       cfg.Clock,
		Pick:        func() int { return mix.Pick(mrand.Uint64()) },
	}, d.run, d.drop)

	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		refreshTokens(bg, setup, d.users, cfg.TokenMaxAge, 10*time.Second, cfg.Progress)
	}()
	go func() {
		defer wg.Done()
		d.progress(bg, eng, start, cfg.Progress)
	}()

	cpu0, cpuOK := processCPU()
	arrivals = eng.Run(ctx, start)
	interrupted = ctx.Err() != nil
	stopped := time.Now()
	if !eng.Wait(cfg.DrainTimeout) {
		fmt.Fprintf(cfg.Progress, "load: %d requests still in flight after %v; counted as %q\n", eng.Inflight(), cfg.DrainTimeout, ErrAbandoned)
	}
	end := time.Now()
	snap := d.rec.finish(end)
	cpu1, _ := processCPU()
	stopBG()
	wg.Wait()
	if err := d.orders.Close(ErrAbandoned); err != nil {
		rep.Warnings = append(rep.Warnings, err.Error())
		fmt.Fprintln(cfg.Progress, "load: warning:", err)
	}

	last := snap.last
	if last.Before(stopped) {
		last = stopped
	}
	rep.DurationS = last.Sub(start).Seconds()
	rep.Requests, rep.Errors, rep.Completed = snap.requests, snap.errors, snap.completed
	rep.Dropped = eng.Dropped()
	if rep.DurationS > 0 {
		rep.ThroughputRPS = float64(rep.Completed) / rep.DurationS
	}
	rep.Latency, rep.Steps, rep.ErrorsBy, rep.Seconds = snap.total, snap.steps, snap.errorsBy, snap.series
	if cpuOK && rep.Completed > 0 {
		rep.ClientCPUMicros = float64((cpu1 - cpu0).Microseconds()) / float64(rep.Completed)
	}
	return d.orders.Counts(), arrivals, interrupted
}

// progress prints a line a second and flushes the orders file.
func (d *driver) progress(ctx context.Context, eng *Engine, start time.Time, w io.Writer) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sec, ok := d.rec.Advance(now)
			if !ok {
				continue
			}
			fmt.Fprintf(w, "%6.0fs  journeys %d  steps done %d  rps %d  errors %d  p99(1s) %.1f ms  in flight %d\n",
				now.Sub(start).Seconds(), eng.Sent(), d.rec.Completed(), sec.Completed, d.rec.Errors(), sec.P99, eng.Inflight())
			_ = d.orders.Flush()
		}
	}
}

// catalogItem is the part of a product the generator uses.
type catalogItem struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// readCatalog pages through GET /api/v1/products.
func readCatalog(ctx context.Context, c *client.Client) ([]catalogItem, error) {
	var out []catalogItem
	cursor := ""
	for page := 0; page < 1000; page++ {
		var p struct {
			Items      []catalogItem `json:"items"`
			NextCursor string        `json:"next_cursor"`
		}
		path := "/api/v1/products?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, err := c.Get(ctx, path, &p); err != nil {
			return out, fmt.Errorf("read the catalog: %w", err)
		}
		for _, it := range p.Items {
			if it.ID != "" {
				out = append(out, it)
			}
		}
		if p.NextCursor == "" || p.NextCursor == cursor {
			break
		}
		cursor = p.NextCursor
	}
	return out, nil
}

// restock logs in as the admin and sets every product's stock.
func restock(ctx context.Context, c *client.Client, email, password string, products []catalogItem) error {
	admin, err := c.Login(ctx, email, password)
	if err != nil {
		return fmt.Errorf("%w (set SOUK_ADMIN_EMAIL and SOUK_ADMIN_PASSWORD)", err)
	}
	failed := 0
	var first error
	for _, p := range products {
		if _, err := admin.JSON(ctx, http.MethodPut, "/api/v1/inventory/"+url.PathEscape(p.ID), map[string]int64{"available": RestockLevel}, nil); err != nil {
			failed++
			if first == nil {
				first = fmt.Errorf("product %s: %w", p.ID, err)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d products not restocked, first: %w", failed, len(products), first)
	}
	return nil
}

// newRunID names a run in emails and idempotency keys, unique across runs.
func newRunID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
