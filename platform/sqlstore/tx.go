package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Retry schedule for transactions that lost a race (busy, serialization
// failure, deadlock). On SQLite the busy timeout has already waited inside
// the driver before an attempt fails, so few attempts are needed.
const (
	maxAttempts  = 8
	baseBackoff  = 2 * time.Millisecond
	maxBackoffMs = 200
)

// Tx is a write transaction. It is valid only inside the function given to
// DB.Tx and, like sql.Tx, must not be used from several goroutines at once.
type Tx struct {
	db *DB
	tx *sql.Tx
	w  *writer // the group commit running it (SQLite writes), or nil
	// readStmts caches the statements of a read transaction (SQLite).
	readStmts *stmtCache
}

// Tx runs fn in a write transaction and commits it when fn returns nil. It
// rolls back when fn returns an error (returned as is) or panics (the panic
// goes on after the rollback).
//
// When the transaction loses a race with another writer (SQLITE_BUSY or
// SQLITE_LOCKED after the busy timeout; PostgreSQL serialization_failure or
// deadlock_detected) the whole of fn runs again, up to 8 attempts with a
// small jittered backoff. fn must therefore be safe to rerun: it must not
// have effects outside the transaction (no publishing, no HTTP calls, no
// writes to variables it does not reset) and must read what it needs inside
// the transaction.
//
// On SQLite the database has one write connection: calling db.Exec or db.Tx
// (instead of tx.Exec) inside fn waits for that connection forever; and
// db.Query inside fn reads from the read pool, which does not see fn's
// uncommitted writes.
//
// On SQLite, transactions from concurrent callers are committed in groups
// (see writer): fn then runs on the writer's goroutine, and its effects are
// atomic and isolated all the same.
func (db *DB) Tx(ctx context.Context, fn func(*Tx) error) error {
	if db.writer != nil {
		return db.writer.do(ctx, fn)
	}
	return db.retry(ctx, "tx", func() error { return db.runTx(ctx, fn) })
}

// ReadTx runs fn in a read-only transaction on the read pool, so that all
// its queries see one snapshot (PostgreSQL: REPEATABLE READ, which never
// fails a read-only transaction). It does not wait for writers and is not
// retried. A write inside fn fails. fn's error is returned unchanged; a
// panic rolls back and continues.
func (db *DB) ReadTx(ctx context.Context, fn func(*Tx) error) (err error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	stx, err := db.read.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin read %s: %w", db.name, err)
	}
	// Rolling back a read-only transaction ends it as well as a commit does.
	defer stx.Rollback()
	return fn(&Tx{db: db, tx: stx, readStmts: db.readStmts})
}

// runTx is one attempt of Tx.
func (db *DB) runTx(ctx context.Context, fn func(*Tx) error) (err error) {
	stx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// fn panicked: roll back, then let the panic continue.
			_ = stx.Rollback()
		}
	}()
	if err := fn(&Tx{db: db, tx: stx}); err != nil {
		done = true
		if rbErr := stx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			db.log.WarnContext(ctx, "rollback failed", "err", rbErr)
		}
		return err
	}
	done = true
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// retry runs attempt until it succeeds, fails with an error that is not
// retryable, runs out of attempts, or ctx ends.
func (db *DB) retry(ctx context.Context, op string, attempt func() error) error {
	for n := 1; ; n++ {
		err := attempt()
		if err == nil {
			return nil
		}
		if !isRetryable(err) || n >= maxAttempts || ctx.Err() != nil {
			if isRetryable(err) {
				return fmt.Errorf("%s %s: gave up after %d attempts: %w", op, db.name, n, err)
			}
			return err
		}
		wait := backoff(n)
		db.log.DebugContext(ctx, "retrying transaction", "op", op, "attempt", n, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s %s: %w (after %v)", op, db.name, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// backoff is the wait before attempt n+1: exponential from 2ms, capped at
// 200ms, with full jitter so that retrying writers spread out.
func backoff(n int) time.Duration {
	ceil := baseBackoff << min(n-1, 10)
	if ceil > maxBackoffMs*time.Millisecond {
		ceil = maxBackoffMs * time.Millisecond
	}
	return ceil/2 + rand.N(ceil/2+1)
}

// stmt returns the prepared form of q for this transaction, or nil.
func (tx *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	var s *sql.Stmt
	switch {
	case tx.w != nil:
		s = tx.w.stmt(q)
	case tx.readStmts != nil:
		s = tx.readStmts.get(ctx, q)
	}
	if s == nil {
		return nil
	}
	return tx.tx.StmtContext(ctx, s)
}

// Exec runs a statement in the transaction.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q := tx.db.bind(query)
	if s := tx.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, q, args...)
}

// Query runs a query in the transaction; it sees the transaction's own
// writes.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := tx.db.bind(query)
	if s := tx.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return tx.tx.QueryContext(ctx, q, args...)
}

// QueryRow is Query for at most one row; errors are deferred to Scan, and
// no row is sql.ErrNoRows.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := tx.db.bind(query)
	if s := tx.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, q, args...)
}

// Dialect reports the engine behind the transaction, for the rare statement
// that must differ.
func (tx *Tx) Dialect() Dialect { return tx.db.dialect }
