package load

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Orders counts the outcomes of the order step. Accepted = Confirmed +
// Pending; Ambiguous orders may or may not exist in the system.
type Orders struct {
	Accepted  int64 `json:"accepted"`
	Confirmed int64 `json:"confirmed"`
	Pending   int64 `json:"pending"`
	Rejected  int64 `json:"rejected"`
	Ambiguous int64 `json:"ambiguous"`
}

// AcceptedLine is a line of the orders file for an order the system
// accepted.
type AcceptedLine struct {
	ID             string    `json:"id"`
	Status         string    `json:"status"`
	IdempotencyKey string    `json:"idempotency_key"`
	At             time.Time `json:"at"`
}

// AmbiguousLine is a line of the orders file for an order whose fate is
// unknown: retrying with the same Idempotency-Key, or auditing, tells.
type AmbiguousLine struct {
	IdempotencyKey string `json:"idempotency_key"`
	Error          string `json:"error"`
}

// OrderLog records the outcome of every order attempt and writes the
// accepted and ambiguous ones as JSON lines. It is safe for concurrent use.
// Begin must precede the outcome of the same key; Close turns the orders
// still in flight into ambiguous lines and ignores outcomes after it.
type OrderLog struct {
	mu      sync.Mutex
	w       *bufio.Writer // nil: count only
	err     error         // the first write error
	pending map[string]struct{}
	closed  bool
	counts  Orders
}

// NewOrderLog returns a log writing to w; w may be nil.
func NewOrderLog(w io.Writer) *OrderLog {
	l := &OrderLog{pending: map[string]struct{}{}}
	if w != nil {
		l.w = bufio.NewWriterSize(w, 64<<10)
	}
	return l
}

// Begin notes that an order with key is about to be sent.
func (l *OrderLog) Begin(key string) {
	l.mu.Lock()
	if !l.closed {
		l.pending[key] = struct{}{}
	}
	l.mu.Unlock()
}

// Accepted records a 201 or 202 answer.
func (l *OrderLog) Accepted(key, id, status string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.end(key) {
		return
	}
	l.counts.Accepted++
	if status == "PENDING" {
		l.counts.Pending++
	} else {
		l.counts.Confirmed++
	}
	l.writeLocked(AcceptedLine{ID: id, Status: status, IdempotencyKey: key, At: at.UTC()})
}

// Rejected records a definite refusal (4xx).
func (l *OrderLog) Rejected(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.end(key) {
		l.counts.Rejected++
	}
}

// Ambiguous records an outcome that does not tell whether the order
// exists: a timeout, a connection error, a 5xx answer.
func (l *OrderLog) Ambiguous(key, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.end(key) {
		return
	}
	l.counts.Ambiguous++
	l.writeLocked(AmbiguousLine{IdempotencyKey: key, Error: reason})
}

// end removes key from the pending set; false after Close.
func (l *OrderLog) end(key string) bool {
	if l.closed {
		return false
	}
	delete(l.pending, key)
	return true
}

func (l *OrderLog) writeLocked(v any) {
	if l.w == nil || l.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err == nil {
		b = append(b, '\n')
		_, err = l.w.Write(b)
	}
	if err != nil {
		l.err = fmt.Errorf("write orders file: %w", err)
	}
}

// Flush writes buffered lines out.
func (l *OrderLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *OrderLog) flushLocked() error {
	if l.w != nil && l.err == nil {
		if err := l.w.Flush(); err != nil {
			l.err = fmt.Errorf("write orders file: %w", err)
		}
	}
	return l.err
}

// Close writes an ambiguous line for every order still in flight, with
// reason, flushes, and ignores outcomes from then on.
func (l *OrderLog) Close(reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.err
	}
	keys := make([]string, 0, len(l.pending))
	for k := range l.pending {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		l.counts.Ambiguous++
		l.writeLocked(AmbiguousLine{IdempotencyKey: k, Error: reason})
	}
	l.pending = nil
	l.closed = true
	return l.flushLocked()
}

// Counts returns the outcomes so far.
func (l *OrderLog) Counts() Orders {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts
}
