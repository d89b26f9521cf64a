package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/souk/souk/platform/sqlstore"
	"github.com/souk/souk/platform/sqlstoretest"
)

// items is the migration set most tests use: a multi-statement file with
// both template tokens, then a seed row that must exist exactly once.
var items = fstest.MapFS{
	"0001_items.sql": {Data: []byte(`
CREATE TABLE items (
    id    {{autoid}},
    sku   TEXT NOT NULL UNIQUE,
    qty   INT NOT NULL DEFAULT 0,
    photo {{blob}}
);
CREATE INDEX items_qty ON items (qty);

CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT);
`)},
	"0002_seed.sql": {Data: []byte(`INSERT INTO items (sku, qty) VALUES ('seed', 1);`)},
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func count(t *testing.T, db *sqlstore.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(ctxT(t), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

type applied struct {
	Scope, Name string
	AppliedAt   int64
}

func appliedMigrations(t *testing.T, db *sqlstore.DB) []applied {
	t.Helper()
	rows, err := db.Query(ctxT(t), `SELECT scope, name, applied_at FROM schema_migrations ORDER BY scope, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []applied
	for rows.Next() {
		var a applied
		if err := rows.Scan(&a.Scope, &a.Name, &a.AppliedAt); err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestMigrationsApplyOnceAndAreRecorded(t *testing.T) {
	sqlstoretest.EachBackend(t, func(t *testing.T, b *sqlstoretest.Backend) {
		t1 := time.UnixMilli(1_700_000_000_000)
		db := b.Open(sqlstore.Options{Name: "shop", Migrations: items, Now: func() time.Time { return t1 }})
		want := []applied{
			{"platform", "0001_platform.sql", t1.UnixMilli()},
			{"shop", "0001_items.sql", t1.UnixMilli()},
			{"shop", "0002_seed.sql", t1.UnixMilli()},
		}
		if diff := cmp.Diff(want, appliedMigrations(t, db)); diff != "" {
			t.Errorf("schema_migrations after first open (-want +got):\n%s", diff)
		}

		// Re-open, as a restart would, with one more file: only it runs.
		t2 := t1.Add(time.Hour)
		more := fstest.MapFS{"0003_more.sql": {Data: []byte(`INSERT INTO items (sku, qty) VALUES ('more', 2);`)}}
		for k, v := range items {
			more[k] = v
		}
		db2 := b.Open(sqlstore.Options{Name: "shop", Migrations: more, Now: func() time.Time { return t2 }})
		want = append(want, applied{"shop", "0003_more.sql", t2.UnixMilli()})
		if diff := cmp.Diff(want, appliedMigrations(t, db2)); diff != "" {
			t.Errorf("schema_migrations after re-open (-want +got):\n%s", diff)
		}
		if got := count(t, db2, `SELECT COUNT(*) FROM items WHERE sku = 'seed'`); got != 1 {
			t.Errorf("seed rows = %d, want 1 (a migration ran twice)", got)
		}

		// Another service's scope on the same database is independent.
		db3 := b.Open(sqlstore.Options{Name: "other", Migrations: fstest.MapFS{
			"0001_items.sql": {Data: []byte(`CREATE TABLE other_items (id INT);`)},
		}})
		if got := count(t, db3, `SELECT COUNT(*) FROM schema_migrations WHERE scope = 'other'`); got != 1 {
			t.Errorf("other scope migrations = %d, want 1", got)
		}
	})
}

func TestMigrationsFromMigrationsFolder(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(fstest.MapFS{
			"migrations/0001_a.sql": {Data: []byte(`CREATE TABLE a (id INT);`)},
			"migrations/README":     {Data: []byte(`not sql`)},
		})
		if got := count(t, db, `SELECT COUNT(*) FROM schema_migrations WHERE scope = 'test' AND name = '0001_a.sql'`); got != 1 {
			t.Errorf("recorded = %d, want 1", got)
		}
	})
}

func TestConcurrentOpenAppliesEachMigrationOnce(t *testing.T) {
	sqlstoretest.EachBackend(t, func(t *testing.T, b *sqlstoretest.Backend) {
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		dbs := make([]*sqlstore.DB, n)
		for i := range n {
			wg.Go(func() {
				dbs[i], errs[i] = b.TryOpen(ctxT(t), sqlstore.Options{Name: "shop", Migrations: items})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
		}
		if got := count(t, dbs[0], `SELECT COUNT(*) FROM items WHERE sku = 'seed'`); got != 1 {
			t.Errorf("seed rows = %d, want 1", got)
		}
		if got := count(t, dbs[0], `SELECT COUNT(*) FROM schema_migrations`); got != 3 {
			t.Errorf("schema_migrations rows = %d, want 3", got)
		}
	})
}

func TestFailedMigrationRollsBack(t *testing.T) {
	sqlstoretest.EachBackend(t, func(t *testing.T, b *sqlstoretest.Backend) {
		bad := fstest.MapFS{
			"0001_ok.sql":  {Data: []byte(`CREATE TABLE ok (id INT);`)},
			"0002_bad.sql": {Data: []byte("CREATE TABLE half (id INT);\nINSERT INTO no_such_table VALUES (1);\n")},
		}
		if _, err := b.TryOpen(ctxT(t), sqlstore.Options{Migrations: bad}); err == nil {
			t.Fatal("open with a failing migration succeeded")
		}
		db := b.Open(sqlstore.Options{})
		if got := count(t, db, `SELECT COUNT(*) FROM schema_migrations WHERE scope = 'test'`); got != 1 {
			t.Errorf("recorded migrations = %d, want 1 (only 0001_ok.sql)", got)
		}
		if _, err := db.Exec(ctxT(t), `INSERT INTO ok (id) VALUES (1)`); err != nil {
			t.Errorf("table of the good migration: %v", err)
		}
		if _, err := db.Exec(ctxT(t), `INSERT INTO half (id) VALUES (1)`); err == nil {
			t.Error("table created by the failed migration exists; want it rolled back")
		}
	})
}

func TestUnknownTemplateTokenFailsOpen(t *testing.T) {
	sqlstoretest.EachBackend(t, func(t *testing.T, b *sqlstoretest.Backend) {
		_, err := b.TryOpen(ctxT(t), sqlstore.Options{Migrations: fstest.MapFS{
			"0001.sql": {Data: []byte(`CREATE TABLE x (id {{autoidd}});`)},
		}})
		if err == nil {
			t.Fatal("open with {{autoidd}} succeeded")
		}
	})
}

func TestTemplatesExpand(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		ctx := ctxT(t)
		photo := []byte{0, 1, 2, 0xff, 0xfe}
		var ids []int64
		for _, sku := range []string{"a", "b"} {
			err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
				var id int64
				if err := tx.QueryRow(ctx, `INSERT INTO items (sku, photo) VALUES (?, ?) RETURNING id`, sku, photo).Scan(&id); err != nil {
					return err
				}
				ids = append(ids, id)
				return nil
			})
			if err != nil {
				t.Fatalf("insert %s: %v", sku, err)
			}
		}
		if ids[1] <= ids[0] || ids[0] < 1 {
			t.Errorf("autoid values = %v, want increasing and positive", ids)
		}
		var got []byte
		if err := db.QueryRow(ctx, `SELECT photo FROM items WHERE sku = ?`, "a").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, photo) {
			t.Errorf("blob = %x, want %x", got, photo)
		}
	})
}

func TestExpand(t *testing.T) {
	tests := []struct {
		dialect sqlstore.Dialect
		in      string
		want    string
		wantErr bool
	}{
		{sqlstore.SQLite, "id {{autoid}}, b {{blob}}", "id INTEGER PRIMARY KEY, b BLOB", false},
		{sqlstore.Postgres, "id {{autoid}}, b {{blob}}", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, b BYTEA", false},
		{sqlstore.SQLite, "no tokens", "no tokens", false},
		{sqlstore.Postgres, "x {{uuid}}", "", true},
		{sqlstore.Dialect(9), "x", "", true},
	}
	for _, tt := range tests {
		got, err := sqlstore.Expand(tt.dialect, tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Expand(%v, %q) error = %v, want error %v", tt.dialect, tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("Expand(%v, %q) = %q, want %q", tt.dialect, tt.in, got, tt.want)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		ctx := ctxT(t)
		if _, err := db.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, "k1", "what?"); err != nil {
			t.Fatal(err)
		}
		var lit, v string
		var n int64
		// The ? inside the literal is text, not a parameter: two args only.
		// (A bare ? in a select list is text to PostgreSQL: cast it.)
		err := db.QueryRow(ctx, `SELECT 'is it ?' AS lit, v, CAST(? AS BIGINT) FROM kv WHERE k = ? -- trailing ? comment`, int64(7), "k1").Scan(&lit, &v, &n)
		if err != nil {
			t.Fatal(err)
		}
		if lit != "is it ?" || v != "what?" || n != 7 {
			t.Errorf("got (%q, %q, %d), want (%q, %q, 7)", lit, v, n, "is it ?", "what?")
		}
		// Same query again: served from the rewrite cache on PostgreSQL.
		if err := db.QueryRow(ctx, `SELECT 'is it ?' AS lit, v, CAST(? AS BIGINT) FROM kv WHERE k = ? -- trailing ? comment`, int64(8), "k1").Scan(&lit, &v, &n); err != nil || n != 8 {
			t.Errorf("second run: n = %d, err = %v; want 8, nil", n, err)
		}
	})
}

func TestTxCommitAndRollback(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		ctx := ctxT(t)

		err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, "committed", "1"); err != nil {
				return err
			}
			// The transaction sees its own write.
			var v string
			return tx.QueryRow(ctx, `SELECT v FROM kv WHERE k = ?`, "committed").Scan(&v)
		})
		if err != nil {
			t.Fatalf("commit: %v", err)
		}

		errBoom := errors.New("boom")
		err = db.Tx(ctx, func(tx *sqlstore.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, "errored", "1"); err != nil {
				return err
			}
			return fmt.Errorf("step: %w", errBoom)
		})
		if !errors.Is(err, errBoom) {
			t.Errorf("Tx error = %v, want it to wrap errBoom", err)
		}

		func() {
			defer func() {
				if r := recover(); r != "kaboom" {
					t.Errorf("recovered %v, want the panic to go on as kaboom", r)
				}
			}()
			_ = db.Tx(ctx, func(tx *sqlstore.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, "panicked", "1"); err != nil {
					return err
				}
				panic("kaboom")
			})
		}()

		for _, tt := range []struct {
			key  string
			want int
		}{{"committed", 1}, {"errored", 0}, {"panicked", 0}} {
			if got := count(t, db, `SELECT COUNT(*) FROM kv WHERE k = ?`, tt.key); got != tt.want {
				t.Errorf("rows for %s = %d, want %d", tt.key, got, tt.want)
			}
		}
		// The write connection is usable after the panic.
		if _, err := db.Exec(ctx, `INSERT INTO kv (k, v) VALUES ('after', '1')`); err != nil {
			t.Errorf("exec after panic: %v", err)
		}
	})
}

func TestTxRetriesRetryableErrors(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		ctx := ctxT(t)
		tests := []struct {
			name         string
			failFirst    int
			err          error
			wantAttempts int
			wantErr      bool
		}{
			{"serialization failure once", 1, &pgconn.PgError{Code: "40001"}, 2, false},
			{"deadlock twice", 2, fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "40P01"}), 3, false},
			{"not retryable", 1, errors.New("plain"), 1, true},
			{"always failing", 100, &pgconn.PgError{Code: "40001"}, 8, true},
		}
		for i, tt := range tests {
			attempts := 0
			key := fmt.Sprintf("retry-%d", i)
			err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
				attempts++
				if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, '1')`, key); err != nil {
					return err
				}
				if attempts <= tt.failFirst {
					return tt.err
				}
				return nil
			})
			if (err != nil) != tt.wantErr {
				t.Errorf("%s: err = %v, want error %v", tt.name, err, tt.wantErr)
			}
			if attempts != tt.wantAttempts {
				t.Errorf("%s: attempts = %d, want %d", tt.name, attempts, tt.wantAttempts)
			}
			wantRows := 1
			if tt.wantErr {
				wantRows = 0
			}
			if got := count(t, db, `SELECT COUNT(*) FROM kv WHERE k = ?`, key); got != wantRows {
				t.Errorf("%s: rows = %d, want %d", tt.name, got, wantRows)
			}
		}
	})
}

// TestTxRetriesSQLiteBusy holds the write lock from outside (as another
// process would) for longer than the busy timeout: the first attempts fail
// with SQLITE_BUSY and Tx must retry until the lock is released.
func TestTxRetriesSQLiteBusy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "busy.sqlite")
	ctx := ctxT(t)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: path, Name: "busy", Migrations: items, BusyTimeout: 20 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(150 * time.Millisecond)
		_, _ = conn.ExecContext(context.Background(), "COMMIT")
		close(released)
	}()

	err = db.Tx(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES ('busy', '1')`)
		return err
	})
	<-released
	if err != nil {
		t.Fatalf("Tx while another connection held the write lock: %v", err)
	}
	// BEGIN IMMEDIATE is what fails while the lock is held, so the retries
	// show in the log rather than as calls of fn.
	if got := strings.Count(logs.String(), "retrying transaction"); got < 1 {
		t.Errorf("retries logged = %d, want at least 1 (the lock outlived the busy timeout)", got)
	}
	if got := count(t, db, `SELECT COUNT(*) FROM kv WHERE k = 'busy'`); got != 1 {
		t.Errorf("rows = %d, want 1", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestInbox(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		ctx := ctxT(t)
		inbox := func(consumer, id string) bool {
			t.Helper()
			var first bool
			if err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
				var err error
				first, err = tx.Inbox(ctx, consumer, id)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return first
		}
		for _, tt := range []struct {
			consumer, id string
			want         bool
		}{
			{"search", "e1", true},
			{"search", "e1", false},
			{"warehouse", "e1", true}, // another consumer of the same event
			{"search", "e2", true},
		} {
			if got := inbox(tt.consumer, tt.id); got != tt.want {
				t.Errorf("Inbox(%s, %s) first = %v, want %v", tt.consumer, tt.id, got, tt.want)
			}
		}

		// A rolled-back transaction does not consume the event.
		_ = db.Tx(ctx, func(tx *sqlstore.Tx) error {
			if _, err := tx.Inbox(ctx, "search", "e3"); err != nil {
				return err
			}
			return errors.New("effect failed")
		})
		if !inbox("search", "e3") {
			t.Error("event of a rolled-back transaction was marked processed")
		}
	})
}

func TestInboxConcurrentDuplicates(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		ctx := ctxT(t)
		const workers = 8
		var firsts atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		start := make(chan struct{})
		for range workers {
			wg.Go(func() {
				<-start
				var first bool
				err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
					var err error
					if first, err = tx.Inbox(ctx, "order", "evt-dup"); err != nil || !first {
						return err
					}
					_, err = tx.Exec(ctx, `UPDATE items SET qty = qty + 1 WHERE sku = 'seed'`)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if first {
					firsts.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("tx: %v", err)
		}
		if got := firsts.Load(); got != 1 {
			t.Errorf("transactions that saw first = %d, want 1", got)
		}
		if got := count(t, db, `SELECT qty FROM items WHERE sku = 'seed'`); got != 2 {
			t.Errorf("effect applied %d times, want 1", got-1)
		}
	})
}

func TestPruneInbox(t *testing.T) {
	sqlstoretest.EachBackend(t, func(t *testing.T, b *sqlstoretest.Backend) {
		var now atomic.Int64
		now.Store(1_000_000)
		db := b.Open(sqlstore.Options{Now: func() time.Time { return time.UnixMilli(now.Load()) }})
		ctx := ctxT(t)
		// 2,500 old rows (more than one prune batch), then 3 new ones.
		if err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
			for i := range 2500 {
				if _, err := tx.Inbox(ctx, "c", fmt.Sprint("old-", i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		now.Store(2_000_000)
		if err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
			for i := range 3 {
				if _, err := tx.Inbox(ctx, "c", fmt.Sprint("new-", i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		n, err := db.PruneInbox(ctx, time.UnixMilli(1_500_000))
		if err != nil {
			t.Fatal(err)
		}
		if n != 2500 {
			t.Errorf("pruned = %d, want 2500", n)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM inbox`); got != 3 {
			t.Errorf("rows left = %d, want 3", got)
		}
	})
}

func TestOutboxAndIdempotencyTables(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		ctx := ctxT(t)
		err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
			for _, id := range []string{"e1", "e2"} {
				if _, err := tx.Exec(ctx, `INSERT INTO outbox (event_id, source, type, key, data, headers, created_at)
					VALUES (?, 'order', 'ORDER_PLACED', 'o1', '{}', '{}', ?)`, id, int64(1)); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO idempotency (scope, key, request_hash, status, body, created_at) VALUES ('u1', 'k1', 'h', 201, '{}', 1)`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE outbox SET published_at = 5 WHERE event_id = 'e1'`); err != nil {
			t.Fatal(err)
		}
		var seq int64
		var id string
		if err := db.QueryRow(ctx, `SELECT seq, event_id FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 1`).Scan(&seq, &id); err != nil {
			t.Fatal(err)
		}
		if id != "e2" {
			t.Errorf("oldest unpublished = %s, want e2", id)
		}
	})
}

func TestIsUniqueViolation(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		ctx := ctxT(t)
		exec := func(q string) error {
			_, err := db.Exec(ctx, q)
			return err
		}
		if err := exec(`INSERT INTO kv (k, v) VALUES ('a', '1')`); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			err  error
			want bool
		}{
			{"primary key", exec(`INSERT INTO kv (k, v) VALUES ('a', '2')`), true},
			{"unique column", exec(`INSERT INTO items (sku) VALUES ('seed')`), true},
			{"wrapped, in a tx", db.Tx(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES ('a', '3')`)
				return fmt.Errorf("create: %w", err)
			}), true},
			{"not null", exec(`INSERT INTO items (sku) VALUES (NULL)`), false},
			{"syntax", exec(`INSERT INTO nowhere VALUES (1)`), false},
			{"nil", nil, false},
		}
		for _, tt := range tests {
			if tt.want && tt.err == nil {
				t.Errorf("%s: statement succeeded, want a violation", tt.name)
				continue
			}
			if got := sqlstore.IsUniqueViolation(tt.err); got != tt.want {
				t.Errorf("%s: IsUniqueViolation(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
			}
		}
	})
}

func TestConcurrentWriters(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		ctx := ctxT(t)
		const workers, perWorker = 8, 200
		var wg sync.WaitGroup
		errs := make(chan error, workers*perWorker)
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
						_, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, fmt.Sprintf("w%d-%d", w, i), "x")
						return err
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("insert: %v", err)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM kv`); got != workers*perWorker {
			t.Errorf("rows = %d, want %d", got, workers*perWorker)
		}
	})
}

func TestTwoDBsOnOneStoreWriteConcurrently(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		// Two DBs on one file behave as two processes would: two write
		// connections contend for SQLite's lock.
		dbs := []*sqlstore.DB{open(items), open(items)}
		ctx := ctxT(t)
		const workersPerDB, perWorker = 4, 100
		var wg sync.WaitGroup
		errs := make(chan error, 2*workersPerDB*perWorker)
		for d, db := range dbs {
			for w := range workersPerDB {
				wg.Go(func() {
					for i := range perWorker {
						err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
							// Read then write: the pattern a deferred
							// transaction would fail under contention.
							var n int
							if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM kv`).Scan(&n); err != nil {
								return err
							}
							_, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, fmt.Sprintf("d%d-w%d-%d", d, w, i), fmt.Sprint(n))
							return err
						})
						if err != nil {
							errs <- err
						}
						if _, err := db.Exec(ctx, `UPDATE items SET qty = qty + 1 WHERE sku = 'seed'`); err != nil {
							errs <- err
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("write: %v", err)
		}
		const total = 2 * workersPerDB * perWorker
		for i, db := range dbs {
			if got := count(t, db, `SELECT COUNT(*) FROM kv`); got != total {
				t.Errorf("db %d sees %d rows, want %d", i, got, total)
			}
		}
		if got := count(t, dbs[0], `SELECT qty FROM items WHERE sku = 'seed'`); got != 1+total {
			t.Errorf("counter = %d, want %d (lost updates)", got, 1+total)
		}
	})
}

func TestReadWhileWriting(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		ctx := ctxT(t)
		inTx := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- db.Tx(ctx, func(tx *sqlstore.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES ('pending', '1')`); err != nil {
					return err
				}
				select {
				case <-inTx: // a rerun: already signalled
				default:
					close(inTx)
				}
				<-release
				return nil
			})
		}()
		<-inTx
		// The writer holds the write lock; a read must neither wait for it
		// nor see its uncommitted row.
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var n int
		err := db.QueryRow(rctx, `SELECT COUNT(*) FROM kv WHERE k = 'pending'`).Scan(&n)
		cancel()
		close(release)
		if err != nil {
			t.Fatalf("read during a write transaction: %v", err)
		}
		if n != 0 {
			t.Errorf("read saw %d uncommitted rows, want 0", n)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM kv WHERE k = 'pending'`); got != 1 {
			t.Errorf("after commit the read pool sees %d rows, want 1", got)
		}
	})
}

func TestReadPoolIsReadOnlyOnSQLite(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		rows, err := db.Query(ctxT(t), `INSERT INTO kv (k, v) VALUES ('via-read-pool', '1') RETURNING k`)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		if db.Dialect() == sqlstore.SQLite && err == nil {
			t.Error("write through the read pool succeeded on SQLite; want it refused")
		}
	})
}

func TestDurabilitySetsSynchronous(t *testing.T) {
	sqlstoretest.EachBackend(t, func(t *testing.T, b *sqlstoretest.Backend) {
		tests := []struct {
			durability sqlstore.Durability
			sqlite     string // PRAGMA synchronous: 1 NORMAL, 2 FULL
			postgres   string // synchronous_commit
		}{
			{sqlstore.Normal, "1", "on"},
			{sqlstore.Strict, "2", "on"},
		}
		for _, tt := range tests {
			db := b.Open(sqlstore.Options{Durability: tt.durability})
			ctx := ctxT(t)
			q, want := `PRAGMA synchronous`, tt.sqlite
			if db.Dialect() == sqlstore.Postgres {
				q, want = `SHOW synchronous_commit`, tt.postgres
			}
			var got string
			// Read on the write connection, whose setting matters.
			if err := db.Tx(ctx, func(tx *sqlstore.Tx) error { return tx.QueryRow(ctx, q).Scan(&got) }); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%v: %s = %s, want %s", tt.durability, q, got, want)
			}
			if db.Dialect() == sqlstore.SQLite {
				var mode string
				if err := db.QueryRow(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
					t.Errorf("journal_mode = %q (%v), want wal", mode, err)
				}
			}
		}
	})
}

func TestPingAndStats(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(nil)
		if err := db.Ping(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		st := db.Stats()
		wantWrite := 16
		if db.Dialect() == sqlstore.SQLite {
			wantWrite = 1
		}
		if st.Write.MaxOpenConnections != wantWrite {
			t.Errorf("write pool max = %d, want %d", st.Write.MaxOpenConnections, wantWrite)
		}
		if db.Dialect() == sqlstore.SQLite && st.Read.MaxOpenConnections != 4 {
			t.Errorf("read pool max = %d, want 4", st.Read.MaxOpenConnections)
		}
	})
}

func TestOpenValidatesOptions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts sqlstore.Options
	}{
		{"no name", sqlstore.Options{DSN: filepath.Join(dir, "a.sqlite")}},
		{"reserved name", sqlstore.Options{DSN: filepath.Join(dir, "a.sqlite"), Name: "platform"}},
		{"no dsn", sqlstore.Options{Name: "x"}},
		{"memory", sqlstore.Options{DSN: ":memory:", Name: "x"}},
		{"uri", sqlstore.Options{DSN: "file:" + filepath.Join(dir, "a.sqlite"), Name: "x"}},
		{"unknown durability", sqlstore.Options{DSN: filepath.Join(dir, "a.sqlite"), Name: "x", Durability: 7}},
		{"bad postgres url", sqlstore.Options{DSN: "postgres://%zz", Name: "x"}},
	}
	for _, tt := range tests {
		db, err := sqlstore.Open(t.Context(), tt.opts)
		if err == nil {
			db.Close()
			t.Errorf("%s: Open succeeded, want an error", tt.name)
		}
	}
}

func TestOpenCreatesParentFolders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "c.sqlite")
	db, err := sqlstore.Open(t.Context(), sqlstore.Options{DSN: path, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
	if db.Dialect() != sqlstore.SQLite {
		t.Errorf("dialect = %v, want sqlite", db.Dialect())
	}
}

func TestReadTxSeesOneSnapshot(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, open func(fs.FS) *sqlstore.DB) {
		db := open(items)
		ctx := ctxT(t)
		var before, after int
		err := db.ReadTx(ctx, func(tx *sqlstore.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM kv`).Scan(&before); err != nil {
				return err
			}
			// A commit from elsewhere while the snapshot is open.
			if _, err := db.Exec(ctx, `INSERT INTO kv (k, v) VALUES ('during', '1')`); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM kv`).Scan(&after); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES ('in-read-tx', '1')`)
			if err == nil {
				return errors.New("write inside ReadTx succeeded")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if before != after {
			t.Errorf("counts inside ReadTx = %d then %d, want one snapshot", before, after)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM kv`); got != before+1 {
			t.Errorf("count after ReadTx = %d, want %d", got, before+1)
		}
	})
}

// TestSQLitePageSize: a new file gets SQLitePageSize; a file made earlier
// with another page size keeps it and still opens, migrates and writes.
func TestSQLitePageSize(t *testing.T) {
	ctx := ctxT(t)
	pageSize := func(db *sqlstore.DB) int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, `PRAGMA page_size`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	dir := t.TempDir()
	fresh, err := sqlstore.Open(ctx, sqlstore.Options{Name: "fresh", DSN: filepath.Join(dir, "fresh.db"), Migrations: items})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := pageSize(fresh); got != sqlstore.SQLitePageSize {
		t.Errorf("new file: page_size = %d, want %d", got, sqlstore.SQLitePageSize)
	}

	oldPath := filepath.Join(dir, "old.db")
	raw, err := sql.Open("sqlite", oldPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA page_size = 4096`, `PRAGMA journal_mode = WAL`, `CREATE TABLE before (x INT)`, `INSERT INTO before VALUES (1)`} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	old, err := sqlstore.Open(ctx, sqlstore.Options{Name: "old", DSN: oldPath, Migrations: items})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got := pageSize(old); got != 4096 {
		t.Errorf("existing file: page_size = %d, want the 4096 it was made with", got)
	}
	if _, err := old.Exec(ctx, `INSERT INTO items (sku, qty) VALUES ('after', 2)`); err != nil {
		t.Fatal(err)
	}
	if n := count(t, old, `SELECT COUNT(*) FROM items`) + count(t, old, `SELECT COUNT(*) FROM before`); n != 3 {
		t.Errorf("rows = %d, want 3 (seed, after, before)", n)
	}
}
