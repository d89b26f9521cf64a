package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Paths and bodies the journeys send.
const (
	pathSignup   = "/api/v1/auth/signup"
	pathLogin    = "/api/v1/auth/login"
	pathProducts = "/api/v1/products?limit=20"
	pathOrders   = "/api/v1/orders"
	successCard  = "4242424242424242"
)

// followNextPercent is how often a browse goes on to the next page.
const followNextPercent = 30

// driver runs journeys against the gateway; safe for concurrent use.
type driver struct {
	hc      *fasthttp.HostClient
	host    string
	timeout time.Duration
	rec     *Recorder
	users   *userPool
	orders  *OrderLog
	anon    []string
	runID   string
	expYear int

	productIDs   [][]byte // JSON-quoted
	productPaths []string
	searchPaths  []string
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// run runs one arrival's journey.
func (d *driver) run(a Arrival) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	switch a.Journey {
	case journeySignup:
		d.signup(a, req, resp)
	case journeyLogin:
		d.login(a, req, resp)
	case journeyBrowse:
		d.browse(a, req, resp)
	case journeySearch:
		d.get(stepSearch, a.Intended, d.searchPaths[rand.IntN(len(d.searchPaths))], req, resp)
	case journeyProduct:
		d.get(stepProduct, a.Intended, d.productPaths[rand.IntN(len(d.productPaths))], req, resp)
	case journeyOrder:
		d.order(a, req, resp)
	case journeyMyOrders:
		d.myOrders(a, req, resp)
	}
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
}

// drop counts an arrival the engine refused.
func (d *driver) drop(a Arrival) { d.rec.Fail(firstStep[a.Journey], ErrDropped) }

// prepare sets the common parts of a request.
func (d *driver) prepare(req *fasthttp.Request, method, path, ip string) {
	req.Reset()
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost(d.host)
	req.Header.Set("X-Forwarded-For", ip)
}

// send performs one step timed from began and records it.
func (d *driver) send(step int, began time.Time, req *fasthttp.Request, resp *fasthttp.Response) (outcome, time.Time) {
	d.rec.Begin(step)
	err := d.hc.DoTimeout(req, resp, d.timeout)
	now := time.Now()
	var o outcome
	if err != nil {
		o.transport = classify(err)
	} else {
		o.status = resp.StatusCode()
		if o.status >= 400 {
			o.code = jsonString(resp.Body(), `"code"`, false)
		}
	}
	d.rec.Record(step, now.Sub(began), now, o)
	return o, now
}

func (d *driver) anonIP() string { return d.anon[rand.IntN(len(d.anon))] }

func (d *driver) get(step int, began time.Time, path string, req *fasthttp.Request, resp *fasthttp.Response) outcome {
	d.prepare(req, fasthttp.MethodGet, path, d.anonIP())
	o, _ := d.send(step, began, req, resp)
	return o
}

func (d *driver) browse(a Arrival, req *fasthttp.Request, resp *fasthttp.Response) {
	ip := d.anonIP()
	d.prepare(req, fasthttp.MethodGet, pathProducts, ip)
	o, _ := d.send(stepBrowse, a.Intended, req, resp)
	if o.status != fasthttp.StatusOK || rand.IntN(100) >= followNextPercent {
		return
	}
	cursor := jsonString(resp.Body(), `"next_cursor"`, true)
	if len(cursor) == 0 {
		return
	}
	d.prepare(req, fasthttp.MethodGet, pathProducts+"&cursor="+url.QueryEscape(string(cursor)), ip)
	d.send(stepBrowseNext, time.Now(), req, resp)
}

func (d *driver) signup(a Arrival, req *fasthttp.Request, resp *fasthttp.Response) {
	u := d.users.newUser()
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	b := append((*bp)[:0], `{"email":`...)
	b = strconv.AppendQuote(b, u.email)
	b = append(b, `,"password":`...)
	b = strconv.AppendQuote(b, u.password)
	b = append(b, `,"name":"Load User `...)
	b = strconv.AppendInt(b, u.index, 10)
	b = append(b, `"}`...)
	*bp = b
	d.prepare(req, fasthttp.MethodPost, pathSignup, u.ip)
	req.Header.SetContentType("application/json")
	req.SetBody(b)
	if o, _ := d.send(stepSignup, a.Intended, req, resp); o.status/100 != 2 {
		return
	}
	if d.doLogin(u, time.Now(), req, resp) {
		d.users.add(u)
	}
}

func (d *driver) login(a Arrival, req *fasthttp.Request, resp *fasthttp.Response) {
	u := d.users.roundRobin()
	if u == nil {
		d.rec.Fail(stepLogin, ErrNoUser)
		return
	}
	d.doLogin(u, a.Intended, req, resp)
}

// doLogin logs u in as a measured step and keeps the new token.
func (d *driver) doLogin(u *user, began time.Time, req *fasthttp.Request, resp *fasthttp.Response) bool {
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	b := append((*bp)[:0], `{"email":`...)
	b = strconv.AppendQuote(b, u.email)
	b = append(b, `,"password":`...)
	b = strconv.AppendQuote(b, u.password)
	b = append(b, '}')
	*bp = b
	d.prepare(req, fasthttp.MethodPost, pathLogin, u.ip)
	req.Header.SetContentType("application/json")
	req.SetBody(b)
	o, now := d.send(stepLogin, began, req, resp)
	if o.status != fasthttp.StatusOK {
		return false
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(resp.Body(), &tok) != nil || tok.AccessToken == "" {
		return false
	}
	u.setToken(tok.AccessToken, now)
	return true
}

// loggedIn picks a pool user who has logged in and returns them with their
// Authorization value; with none, it records step as failed with ErrNoUser
// and returns a nil value.
func (d *driver) loggedIn(step int) (*user, *[]byte) {
	u := d.users.random()
	var auth *[]byte
	if u != nil {
		auth = u.auth.Load()
	}
	if auth == nil {
		d.rec.Fail(step, ErrNoUser)
	}
	return u, auth
}

func (d *driver) order(a Arrival, req *fasthttp.Request, resp *fasthttp.Response) {
	u, auth := d.loggedIn(stepOrder)
	if auth == nil {
		return
	}
	key := "load-" + d.runID + "-" + strconv.FormatInt(a.Seq, 10)
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	b := d.orderBody((*bp)[:0])
	*bp = b
	d.prepare(req, fasthttp.MethodPost, pathOrders, u.ip)
	req.Header.SetContentType("application/json")
	req.Header.SetBytesV("Authorization", *auth)
	req.Header.Set("Idempotency-Key", key)
	req.SetBody(b)
	d.orders.Begin(key)
	o, now := d.send(stepOrder, a.Intended, req, resp)
	switch {
	case o.status == fasthttp.StatusCreated || o.status == fasthttp.StatusAccepted:
		var ans struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal(resp.Body(), &ans); err != nil || ans.ID == "" {
			d.orders.Ambiguous(key, strconv.Itoa(o.status)+" without an order id")
			return
		}
		if ans.Status == "" {
			ans.Status = "CONFIRMED"
			if o.status == fasthttp.StatusAccepted {
				ans.Status = "PENDING"
			}
		}
		d.orders.Accepted(key, ans.ID, ans.Status, now)
	case o.status >= 400 && o.status < 500:
		d.orders.Rejected(key)
	default:
		d.orders.Ambiguous(key, errorKey(o))
	}
}

// myOrders lists a pool user's orders (the first page of GET
// /api/v1/orders, newest first) and, when there is any, opens one of them
// at random (GET /api/v1/orders/{id}, timed from its own send).
func (d *driver) myOrders(a Arrival, req *fasthttp.Request, resp *fasthttp.Response) {
	u, auth := d.loggedIn(stepMyOrders)
	if auth == nil {
		return
	}
	d.prepare(req, fasthttp.MethodGet, pathOrders, u.ip)
	req.Header.SetBytesV("Authorization", *auth)
	if o, _ := d.send(stepMyOrders, a.Intended, req, resp); o.status != fasthttp.StatusOK {
		return
	}
	ids := jsonStrings(resp.Body(), `"id"`)
	if len(ids) == 0 {
		return
	}
	path := pathOrders + "/" + url.PathEscape(string(ids[rand.IntN(len(ids))]))
	d.prepare(req, fasthttp.MethodGet, path, u.ip)
	req.Header.SetBytesV("Authorization", *auth)
	d.send(stepMyOrder, time.Now(), req, resp)
}

// orderBody appends an order of 1–3 distinct products, 1–2 of each, paid
// with the card that succeeds.
func (d *driver) orderBody(b []byte) []byte {
	n := 1 + rand.IntN(3)
	if n > len(d.productIDs) {
		n = len(d.productIDs)
	}
	var picked [3]int
	b = append(b, `{"items":[`...)
	for i := 0; i < n; i++ {
		p := rand.IntN(len(d.productIDs))
		for slices.Contains(picked[:i], p) {
			p = rand.IntN(len(d.productIDs))
		}
		picked[i] = p
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"product_id":`...)
		b = append(b, d.productIDs[p]...)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, int64(1+rand.IntN(2)), 10)
		b = append(b, '}')
	}
	b = append(b, `],"payment":{"card_number":"`+successCard+`","exp_month":12,"exp_year":`...)
	b = strconv.AppendInt(b, int64(d.expYear), 10)
	b = append(b, `,"cvc":"123"}}`...)
	return b
}

// classify names a transport failure.
func classify(err error) string {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return ErrNoConn
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout), errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	case errors.As(err, &op) && op.Op == "dial":
		return ErrRefused
	}
	return ErrConnection
}

// errorKey is the name of a failed outcome, as counted in errors_by.
func errorKey(o outcome) string {
	if o.status == 0 {
		return o.transport
	}
	if len(o.code) > 0 {
		return strconv.Itoa(o.status) + " " + string(o.code)
	}
	return strconv.Itoa(o.status)
}

// jsonString finds the member named key (quoted, e.g. `"code"`) in a JSON
// object and returns its string value, or nil when it is absent, null, not
// a string, or holds escapes. It scans bytes instead of decoding: an
// escaped occurrence inside another string cannot match, since the key's
// closing quote would be preceded by a backslash. last searches from the
// end, where encoders put a trailing member like next_cursor.
func jsonString(body []byte, key string, last bool) []byte {
	var i int
	if last {
		i = bytes.LastIndex(body, []byte(key))
	} else {
		i = bytes.Index(body, []byte(key))
	}
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(body[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return nil
	}
	rest = rest[1:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil
	}
	return rest[:end]
}

// jsonStrings returns the string values of every member named key in body
// (nested objects included), scanning like jsonString.
func jsonStrings(body []byte, key string) [][]byte {
	var out [][]byte
	for {
		i := bytes.Index(body, []byte(key))
		if i < 0 {
			return out
		}
		if v := jsonString(body[i:], key, false); v != nil {
			out = append(out, v)
		}
		body = body[i+len(key):]
	}
}

// searchWords returns the distinct lower-case words of at least four
// letters in names.
func searchWords(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		for _, w := range strings.FieldsFunc(strings.ToLower(n), func(r rune) bool { return r < 'a' || r > 'z' }) {
			if len(w) >= 4 && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}
