package seed

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/souk/souk/sampledata"
	"github.com/souk/souk/services/inventory"
	"github.com/souk/souk/services/order"
	"github.com/souk/souk/services/payment"
)

// registrationWindow is how long before the first order the users sign up.
const registrationWindow = 30 * 24 * time.Hour

// card is the test card every seeded order is paid with.
func card(now time.Time) payment.Card {
	return payment.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: now.Year() + 3, CVC: "123"}
}

// seedUser is one generated user.
type seedUser struct {
	index     int
	id        string
	email     string
	name      string
	createdAt time.Time
}

// orderRec is one generated order with everything every service stores
// about it.
type orderRec struct {
	index    int // from 0
	customer seedUser
	placed   order.Placement
	// Times of the other services' rows.
	reservedAt, notifiedAt time.Time
	messageID, taskID      string
}

// generator makes the users and orders of a Config, deterministically:
// every value depends on the seed and the position only, so batches can be
// generated one after another without keeping the whole history.
type generator struct {
	cfg       Config
	start     time.Time // the first order's slot
	step      time.Duration
	userIDs   []string // by index-1
	userTimes []time.Time
	owners    []int32 // the customer index of each order
	card      payment.Card
}

func newGenerator(cfg Config) *generator {
	end := cfg.Now.UTC().Add(-time.Hour).Truncate(time.Millisecond)
	g := &generator{cfg: cfg, start: end.Add(-cfg.Span), card: card(cfg.Now)}
	if cfg.Orders > 0 {
		g.step = cfg.Span / time.Duration(cfg.Orders)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	g.userIDs = make([]string, cfg.Users)
	g.userTimes = make([]time.Time, cfg.Users)
	for i := range cfg.Users {
		at := g.start.Add(-registrationWindow + time.Duration(i)*registrationWindow/time.Duration(cfg.Users))
		g.userTimes[i] = at.Truncate(time.Millisecond)
		g.userIDs[i] = uuidV7(g.userTimes[i], rng)
	}
	// A deck holding every user Orders/Users times (±1), shuffled: each
	// user's orders are scattered over the span.
	g.owners = make([]int32, cfg.Orders)
	for k := range g.owners {
		g.owners[k] = int32(k%max(cfg.Users, 1)) + 1
	}
	rng.Shuffle(len(g.owners), func(i, j int) { g.owners[i], g.owners[j] = g.owners[j], g.owners[i] })
	return g
}

// users returns users from to to-1 (indices from 1).
func (g *generator) users(from, to int) []seedUser {
	out := make([]seedUser, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, g.user(i))
	}
	return out
}

func (g *generator) user(i int) seedUser {
	return seedUser{
		index: i, id: g.userIDs[i-1], email: Email(i), name: "Seed User " + strconv.Itoa(i),
		createdAt: g.userTimes[i-1],
	}
}

// orders returns orders from to to-1 (indices from 0).
func (g *generator) orders(from, to int) []orderRec {
	out := make([]orderRec, 0, to-from)
	for k := from; k < to; k++ {
		out = append(out, g.order(k))
	}
	return out
}

// order builds order k from a random stream of its own, so any batch can
// be generated alone.
func (g *generator) order(k int) orderRec {
	rng := rand.New(rand.NewPCG(g.cfg.Seed, uint64(k)+1))
	created := g.start.Add(time.Duration(k) * g.step)
	if g.step > time.Millisecond {
		created = created.Add(time.Duration(rng.Int64N(int64(g.step))))
	}
	created = created.Truncate(time.Millisecond)
	placedAt := created.Add(time.Duration(150+rng.IntN(250)) * time.Millisecond)
	cust := g.user(int(g.owners[k]))
	id := uuidV7(created, rng)

	n := 1 + rng.IntN(3)
	picked := rng.Perm(len(sampledata.Products))[:n]
	c := order.Created{OrderID: id, CustomerID: cust.id, Email: cust.email, Name: cust.name, Currency: "USD", CreatedAt: created}
	req := order.PlaceRequest{Payment: g.card}
	for _, p := range picked {
		prod := sampledata.Products[p]
		q := int64(1 + rng.IntN(2))
		c.Items = append(c.Items, order.Item{ProductID: prod.ID, Name: prod.Name, Quantity: q, PriceCents: prod.PriceCents})
		c.TotalCents += prod.PriceCents * q
		c.Currency = prod.Currency
		req.Items = append(req.Items, order.LineRequest{ProductID: prod.ID, Quantity: q})
	}
	pay := order.Payment{TransactionID: "txn_" + uuidV7(placedAt, rng), Last4: g.card.Last4(), Brand: g.card.Brand()}
	notified := placedAt.Add(time.Duration(20+rng.IntN(80)) * time.Millisecond)
	return orderRec{
		index:    k,
		customer: cust,
		placed: order.Placement{
			Created: c, Payment: pay, PlacedAt: placedAt,
			EventIDs:       [4]string{uuidV7(created, rng), uuidV7(placedAt, rng), uuidV7(placedAt, rng), uuidV7(placedAt, rng)},
			IdempotencyKey: "seed-" + strconv.Itoa(k+1), Request: req,
		},
		reservedAt: created.Add(time.Duration(5+rng.IntN(40)) * time.Millisecond),
		notifiedAt: notified,
		messageID:  uuidV7(notified, rng),
		taskID:     uuidV7(notified, rng),
	}
}

// reservation is the committed reservation of o.
func (o orderRec) reservation() inventory.Reservation {
	r := inventory.Reservation{
		OrderID: o.placed.Created.OrderID, Status: inventory.StatusCommitted,
		ExpiresAt: o.reservedAt.Add(inventory.DefaultReservationTTL), CreatedAt: o.reservedAt, UpdatedAt: o.placed.PlacedAt,
	}
	for _, it := range o.placed.Created.Items {
		r.Items = append(r.Items, inventory.Item{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	return r
}

// charge is the captured charge of o.
func (o orderRec) charge() payment.Charge {
	c := o.placed.Created
	return payment.Charge{
		OrderID: c.OrderID, TransactionID: o.placed.Payment.TransactionID, Status: payment.StatusCaptured,
		AmountCents: c.TotalCents, Currency: c.Currency, Last4: o.placed.Payment.Last4, Brand: o.placed.Payment.Brand,
		CreatedAt: o.placed.PlacedAt.Add(-50 * time.Millisecond), UpdatedAt: o.placed.PlacedAt.Add(-50 * time.Millisecond),
	}
}

// uuidV7 returns a version 7 UUID for the millisecond of at, with random
// bits from rng (RFC 9562, section 5.7).
func uuidV7(at time.Time, rng *rand.Rand) string {
	var u uuid.UUID
	ms := uint64(at.UnixMilli())
	binary.BigEndian.PutUint64(u[8:], rng.Uint64())
	binary.BigEndian.PutUint16(u[6:], uint16(rng.Uint32()))
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return u.String()
}
