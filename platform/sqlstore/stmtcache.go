package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// maxCachedStmts bounds the statement cache: the queries of a service are a
// fixed set, but some are built with a variable number of placeholders, and
// those must not grow it without end. Past the bound, queries run unprepared.
const maxCachedStmts = 512

// stmtCache keeps a prepared statement per query text of one pool, so the
// hot path does not pay SQLite's parse and plan on every call (a fifth of a
// service's CPU before it was added, by pprof). database/sql keeps each
// statement prepared per connection and reuses it inside transactions on the
// same connection. Only SQLite uses it: pgx caches statements itself.
type stmtCache struct {
	pool  *sql.DB
	mu    sync.Mutex
	stmts sync.Map // query → *sql.Stmt
	n     atomic.Int32
}

// get returns the prepared statement of q, preparing it once; nil when q
// cannot be prepared or the cache is full (the caller runs q directly, and
// any error surfaces there).
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if s, ok := c.stmts.Load(q); ok {
		return s.(*sql.Stmt)
	}
	if c.n.Load() >= maxCachedStmts {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts.Load(q); ok {
		return s.(*sql.Stmt)
	}
	s, err := c.pool.PrepareContext(context.WithoutCancel(ctx), q)
	if err != nil {
		return nil
	}
	c.stmts.Store(q, s)
	c.n.Add(1)
	return s
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.stmts.Range(func(_, s any) bool {
		_ = s.(*sql.Stmt).Close()
		return true
	})
}
