package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/souk/souk/platform/broker"
)

// LoginBucket is the NATS KV bucket where every gateway instance counts
// login attempts.
const LoginBucket = "souk_login_attempts"

// loginWindow is the period the login limits count over (the limits are
// "per minute").
const loginWindow = time.Minute

// loginCounter counts login attempts per client address and per account in
// a NATS KV bucket shared by every gateway instance, so the login limits
// hold for the whole deployment: with one limiter per process, N gateway
// replicas behind a balancer would let an attacker try N times as many
// passwords. It keeps a counter per key and minute and estimates the
// attempts of the last minute as the current minute's count plus the
// previous minute's weighted by how much of it is still inside the window
// (a sliding window: no burst of twice the limit across a minute's edge).
// Counters are updated by compare-and-set, so concurrent attempts from
// several instances are each counted once. Refused attempts are not
// counted. Keys hold a hash of the address or account, never the value
// itself, and expire after two windows.
type loginCounter struct {
	kv     jetstream.KeyValue
	window time.Duration
}

// newLoginCounter binds the bucket, creating it if needed. The counts are
// kept in memory on the broker: a broker restart forgets them, which only
// resets the limits.
func newLoginCounter(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*loginCounter, error) {
	if replicas < 1 {
		replicas = 1
	}
	kv, err := broker.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "souk gateway: login attempts per address and account, per minute",
		History:     1,
		TTL:         2*loginWindow + 10*time.Second,
		Storage:     jetstream.MemoryStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("bind login bucket %s: %w", bucket, err)
	}
	return &loginCounter{kv: kv, window: loginWindow}, nil
}

// casAttempts bounds the compare-and-set retries of one attempt: more
// conflicts than this mean many concurrent attempts on one key, which is an
// attack, and the attempt is refused.
const casAttempts = 8

// allow counts an attempt for key (kind names its space: "ip", "account")
// when fewer than limit were counted in the last window, else reports how
// long until one would be allowed. An error means the bucket could not be
// used; the caller falls back to its own limiter.
func (c *loginCounter) allow(ctx context.Context, kind, key string, limit int, now time.Time) (bool, time.Duration, error) {
	if limit <= 0 {
		return true, 0, nil
	}
	sum := sha256.Sum256([]byte(kind + "\x00" + key))
	base := kind + "." + hex.EncodeToString(sum[:12]) + "."
	w := now.UnixNano() / int64(c.window)
	start := time.Unix(0, w*int64(c.window))
	prev, _, err := c.get(ctx, base+strconv.FormatInt(w-1, 10))
	if err != nil {
		return false, 0, err
	}
	// The share of the previous window still inside the sliding one.
	weight := 1 - float64(now.Sub(start))/float64(c.window)
	curKey := base + strconv.FormatInt(w, 10)
	for range casAttempts {
		cur, rev, err := c.get(ctx, curKey)
		if err != nil {
			return false, 0, err
		}
		// This attempt would make the estimate exceed limit.
		if float64(prev)*weight+float64(cur)+1 > float64(limit) {
			return false, c.wait(prev, cur, limit, start, now), nil
		}
		val := []byte(strconv.Itoa(cur + 1))
		if rev == 0 {
			_, err = c.kv.Create(ctx, curKey, val)
		} else {
			_, err = c.kv.Update(ctx, curKey, val, rev)
		}
		switch {
		case err == nil:
			return true, 0, nil
		case errors.Is(err, jetstream.ErrKeyExists):
			continue // another instance counted first: read again
		default:
			return false, 0, err
		}
	}
	return false, time.Second, nil
}

// get reads a counter: 0 and revision 0 when it does not exist.
func (c *loginCounter) get(ctx context.Context, key string) (int, uint64, error) {
	e, err := c.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	n, err := strconv.Atoi(string(e.Value()))
	if err != nil || n < 0 {
		return 0, 0, fmt.Errorf("login counter %s holds %q", key, e.Value())
	}
	return n, e.Revision(), nil
}

// wait is how long, with no new attempts, until one more fits under limit:
// the previous window's share shrinks as time passes, and at the next
// window the current count becomes the previous one.
func (c *loginCounter) wait(prev, cur, limit int, start, now time.Time) time.Duration {
	room := float64(limit - 1) // the estimate must drop to this
	var at time.Time
	if float64(cur) <= room && prev > 0 {
		// prev*(1-f) + cur <= room  <=>  f >= 1 - (room-cur)/prev
		f := 1 - (room-float64(cur))/float64(prev)
		at = start.Add(time.Duration(f * float64(c.window)))
	} else {
		// In the next window: cur*(1-f) <= room  <=>  f >= 1 - room/cur
		f := max(0, 1-room/float64(cur))
		at = start.Add(c.window).Add(time.Duration(f * float64(c.window)))
	}
	return max(at.Sub(now), time.Second)
}
