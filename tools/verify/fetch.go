package verify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/souk/souk/tools/client"
)

// The admin audit routes of the gateway (contracts.md).
const (
	PathOrders        = "/api/v1/admin/audit/orders"
	PathCharges       = "/api/v1/admin/audit/charges"
	PathStock         = "/api/v1/admin/audit/stock"
	PathReservations  = "/api/v1/admin/audit/reservations"
	PathNotifications = "/api/v1/admin/audit/notifications"
	PathTasks         = "/api/v1/admin/audit/tasks"
)

// MaxPageSize is the largest page the audit endpoints serve.
const MaxPageSize = 5000

// maxPages bounds one audit's paging, against a server whose cursor cycles.
const maxPages = 100_000

// Source fetches a complete Data; Run fetches through it.
type Source interface {
	Fetch(ctx context.Context) (Data, error)
}

// Gateway fetches the audits through a gateway's admin routes.
type Gateway struct {
	c        *client.Client
	pageSize int
	// backoff is the pause before retrying a page that failed for a
	// transient reason.
	backoff time.Duration
}

// NewGateway returns a Source reading the audits with c, which must carry
// an admin token, pageSize items a page (1 to MaxPageSize; 0 means
// MaxPageSize).
func NewGateway(c *client.Client, pageSize int) *Gateway {
	if pageSize <= 0 || pageSize > MaxPageSize {
		pageSize = MaxPageSize
	}
	return &Gateway{c: c, pageSize: pageSize, backoff: 200 * time.Millisecond}
}

// Fetch pages through every audit to its end: the five audits other than
// the orders' in parallel, then the orders' (see the package doc for why
// last). Errors: the first audit that failed, wrapped with its name; a
// *client.APIError inside tells the status.
func (g *Gateway) Fetch(ctx context.Context) (Data, error) {
	var (
		d    Data
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	run(func() (err error) { d.Charges, err = fetchAll[Charge](ctx, g, "charges", PathCharges); return })
	run(func() (err error) { d.Stock, err = fetchAll[Stock](ctx, g, "stock", PathStock); return })
	run(func() (err error) {
		d.Reservations, err = fetchAll[Reservation](ctx, g, "reservations", PathReservations)
		return
	})
	run(func() (err error) {
		d.Notifications, err = fetchAll[Notification](ctx, g, "notifications", PathNotifications)
		return
	})
	run(func() (err error) { d.Tasks, err = fetchAll[Task](ctx, g, "tasks", PathTasks); return })
	wg.Wait()
	if len(errs) > 0 {
		return Data{}, errs[0]
	}
	var err error
	if d.Orders, err = fetchAll[Order](ctx, g, "orders", PathOrders); err != nil {
		return Data{}, err
	}
	return d, nil
}

// page is one page of any audit.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// fetchAll reads every page of one audit, passing each next_cursor back
// unchanged until it is empty.
func fetchAll[T any](ctx context.Context, g *Gateway, name, path string) ([]T, error) {
	out := []T{}
	cursor := ""
	for range maxPages {
		q := url.Values{"limit": {strconv.Itoa(g.pageSize)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p page[T]
		if err := g.get(ctx, path+"?"+q.Encode(), &p); err != nil {
			return nil, fmt.Errorf("audit %s: %w", name, err)
		}
		out = append(out, p.Items...)
		if p.NextCursor == "" {
			return out, nil
		}
		if p.NextCursor == cursor {
			return nil, fmt.Errorf("audit %s: the cursor %q did not advance", name, cursor)
		}
		cursor = p.NextCursor
	}
	return nil, fmt.Errorf("audit %s: more than %d pages", name, maxPages)
}

// get reads one page, retrying up to three times when the failure is
// transient (honouring Retry-After up to 5s).
func (g *Gateway) get(ctx context.Context, pathQuery string, out any) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			wait := g.backoff << (attempt - 1)
			var ae *client.APIError
			if errors.As(err, &ae) && ae.Problem.RetryAfter > 0 {
				wait = min(time.Duration(ae.Problem.RetryAfter)*time.Second, 5*time.Second)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
		}
		if _, err = g.c.Get(ctx, pathQuery, out); err == nil || ctx.Err() != nil || !Transient(err) {
			return err
		}
	}
	return err
}

// Transient reports whether err may pass if tried again: a transport
// failure (a timeout of one request included), or an answer 429 or 5xx.
// Callers check their own context first: a request cut by the caller's
// deadline is a transport failure too.
func Transient(err error) bool {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Status == 429 || ae.Status >= 500
	}
	var ue *url.Error
	return errors.As(err, &ue)
}
