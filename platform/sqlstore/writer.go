package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// maxBatch bounds how many transactions one commit carries.
const maxBatch = 128

// writer is the group commit of a SQLite database: the one goroutine that
// owns the single write connection. Tx hands it the function to run; it
// takes every function queued at that moment, runs each inside a SAVEPOINT
// of one transaction, and commits them together. Each function is still
// atomic and isolated (its savepoint is rolled back alone when it fails,
// and the functions run one after another, so each sees the writes of
// those before it, exactly as if they had committed in that order), but
// the commit — the WAL frames of pages several transactions touched, and
// under strict durability the fsync — is paid once per batch instead of once
// per transaction. Under load that is most of a service's database cost.
//
// The writer also keeps the write connection's prepared statements:
// statements first seen inside a transaction are prepared after its commit,
// when the connection is free. They are prepared on the pool (of one
// connection), not on a held *sql.Conn: database/sql reuses a pool
// statement inside a transaction on the same connection, but re-prepares a
// Conn's statement on every use.
type writer struct {
	db      *DB
	pool    *sql.DB // the write pool: one connection, used by the writer only
	reqs    chan *writeReq
	stop    chan struct{}
	stopped chan struct{}

	stmts   map[string]*sql.Stmt // only the writer goroutine touches these
	prepare map[string]bool

	batches, txs, prepared atomic.Int64 // for Stats
}

type writeReq struct {
	ctx      context.Context
	fn       func(*Tx) error
	err      error
	panicked any
	done     chan struct{}
}

func startWriter(ctx context.Context, db *DB, pool *sql.DB) (*writer, error) {
	w := &writer{
		db: db, pool: pool,
		reqs:    make(chan *writeReq, 1024),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		stmts:   map[string]*sql.Stmt{},
		prepare: map[string]bool{},
	}
	for _, q := range []string{"SAVEPOINT batch", "RELEASE batch", "ROLLBACK TO batch"} {
		w.prepare[q] = true
	}
	w.prepareQueued(ctx)
	go w.loop()
	return w, nil
}

// do runs fn in the next batch and returns its outcome; a panic in fn
// continues in the caller's goroutine.
func (w *writer) do(ctx context.Context, fn func(*Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case w.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.stop:
		return fmt.Errorf("tx %s: the database is closed", w.db.name)
	}
	// Once queued, fn may be running: wait for it whatever ctx says.
	select {
	case <-req.done:
	case <-w.stopped:
		select {
		case <-req.done:
		default:
			return fmt.Errorf("tx %s: the database is closed", w.db.name)
		}
	}
	if req.panicked != nil {
		panic(req.panicked)
	}
	return req.err
}

func (w *writer) loop() {
	defer close(w.stopped)
	for {
		var first *writeReq
		select {
		case first = <-w.reqs:
		case <-w.stop:
			return
		}
		batch := []*writeReq{first}
	collect:
		for len(batch) < maxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		w.runBatch(batch)
		w.batches.Add(1)
		w.txs.Add(int64(len(batch)))
		for _, r := range batch {
			close(r.done)
		}
		w.prepareQueued(context.Background())
	}
}

// runBatch runs batch in one transaction, retrying the whole batch when
// the database is busy (another process holds the write lock) at BEGIN or
// COMMIT.
func (w *writer) runBatch(batch []*writeReq) {
	for attempt := 1; ; attempt++ {
		err := w.attempt(batch)
		if err == nil {
			return
		}
		if !isRetryable(err) || attempt >= maxAttempts {
			if isRetryable(err) {
				err = fmt.Errorf("tx %s: gave up after %d attempts: %w", w.db.name, attempt, err)
			}
			for _, r := range batch {
				if r.err == nil && r.panicked == nil {
					r.err = err
				}
			}
			return
		}
		w.db.log.Debug("retrying transaction", "op", "batch", "attempt", attempt, "size", len(batch), "err", err)
		time.Sleep(backoff(attempt))
	}
}

// attempt is one try at a batch: nil means committed (each request holds
// its own outcome); an error means nothing was committed.
func (w *writer) attempt(batch []*writeReq) error {
	ctx := context.Background()
	for _, r := range batch {
		r.err, r.panicked = nil, nil
	}
	stx, err := w.pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = stx.Rollback()
		}
	}()
	alone := len(batch) == 1
	live := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if !alone {
			if _, err := w.exec(stx, ctx, "SAVEPOINT batch"); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
		}
		r.panicked, r.err = w.call(stx, r)
		failed := r.err != nil || r.panicked != nil
		if failed && isRetryable(r.err) && r.panicked == nil {
			// Lost a lock inside the transaction: retry the batch.
			return r.err
		}
		switch {
		case alone && failed:
			return nil // rolled back by the deferred Rollback; r holds the outcome
		case alone:
		case failed:
			if _, err := w.exec(stx, ctx, "ROLLBACK TO batch"); err != nil {
				return fmt.Errorf("rollback to savepoint: %w", err)
			}
			if _, err := w.exec(stx, ctx, "RELEASE batch"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		default:
			if _, err := w.exec(stx, ctx, "RELEASE batch"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
			live++
		}
		if alone && !failed {
			live++
		}
	}
	if live == 0 {
		return nil // nothing to keep: the deferred Rollback ends it
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// call runs one request's function, catching a panic.
func (w *writer) call(stx *sql.Tx, r *writeReq) (panicked any, err error) {
	defer func() {
		if v := recover(); v != nil {
			panicked = v
		}
	}()
	return nil, r.fn(&Tx{db: w.db, tx: stx, w: w})
}

// stmt returns the statement of q prepared on the write connection, or nil
// (and remembers to prepare it after the batch).
func (w *writer) stmt(q string) *sql.Stmt {
	if s, ok := w.stmts[q]; ok {
		return s
	}
	if len(w.stmts)+len(w.prepare) < maxCachedStmts {
		w.prepare[q] = true
	}
	return nil
}

func (w *writer) exec(stx *sql.Tx, ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := w.stmt(q); s != nil {
		return stx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return stx.ExecContext(ctx, q, args...)
}

// prepareQueued prepares, between transactions, the statements first seen
// inside one. A statement that does not prepare is simply not cached.
func (w *writer) prepareQueued(ctx context.Context) {
	for q := range w.prepare {
		delete(w.prepare, q)
		if s, err := w.pool.PrepareContext(ctx, q); err == nil {
			w.stmts[q] = s
			w.prepared.Add(1)
		}
	}
}

// close stops the writer after the batch in progress and closes its
// statements.
func (w *writer) close() error {
	select {
	case <-w.stop:
		return nil
	default:
	}
	close(w.stop)
	<-w.stopped
	var errs []error
	for _, s := range w.stmts {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
