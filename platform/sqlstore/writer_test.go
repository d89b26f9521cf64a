package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

func openKV(t *testing.T) *sqlstore.DB {
	t.Helper()
	items := fstest.MapFS{"001_kv.sql": {Data: []byte(`CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT NOT NULL);`)}}
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{DSN: filepath.Join(t.TempDir(), "kv.db"), Name: "kv", Migrations: items})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestGroupCommitIsolation runs many transactions at once, some failing
// and some panicking: each keeps its own outcome, as if alone.
func TestGroupCommitIsolation(t *testing.T) {
	db := openKV(t)
	ctx := context.Background()
	errBoom := errors.New("boom")
	var wg sync.WaitGroup
	results := make([]error, 300)
	panics := make([]any, 300)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			results[i] = db.Tx(ctx, func(tx *sqlstore.Tx) error {
				// Two statements: a failure must undo the first one too.
				if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, 'a')`, fmt.Sprintf("k%d", i)); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, 'b')`, fmt.Sprintf("k%d-2", i)); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return errBoom
				case 2:
					panic(fmt.Sprintf("panic %d", i))
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i := range results {
		var want int
		switch i % 3 {
		case 0:
			if results[i] != nil || panics[i] != nil {
				t.Errorf("tx %d: err %v, panic %v; want success", i, results[i], panics[i])
			}
			want = 2
		case 1:
			if !errors.Is(results[i], errBoom) {
				t.Errorf("tx %d: err %v, want boom", i, results[i])
			}
		case 2:
			if panics[i] != fmt.Sprintf("panic %d", i) {
				t.Errorf("tx %d: panic %v, want it re-raised in the caller", i, panics[i])
			}
		}
		if got := count(t, db, `SELECT COUNT(*) FROM kv WHERE k IN (?, ?)`, fmt.Sprintf("k%d", i), fmt.Sprintf("k%d-2", i)); got != want {
			t.Errorf("tx %d: %d rows, want %d", i, got, want)
		}
	}
	st := db.Stats()
	if st.Transactions != 300 || st.Batches >= st.Transactions {
		t.Errorf("stats: %d transactions in %d batches; want them grouped", st.Transactions, st.Batches)
	}
	t.Logf("%d transactions in %d commits", st.Transactions, st.Batches)
}

// A transaction sees the writes of the ones before it in its batch, and a
// unique violation in one does not spoil the others.
func TestGroupCommitOrder(t *testing.T) {
	db := openKV(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES ('only', 'x')`)
				return err
			})
			if err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			} else if !sqlstore.IsUniqueViolation(err) {
				t.Errorf("err = %v, want a unique violation", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d inserts of one key succeeded, want 1", won)
	}
}

func TestGroupCommitCancelledBeforeRun(t *testing.T) {
	db := openKV(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO kv (k, v) VALUES ('late', 'x')`)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if got := count(t, db, `SELECT COUNT(*) FROM kv WHERE k = 'late'`); got != 0 {
		t.Errorf("a cancelled transaction wrote %d rows", got)
	}
}

func TestStatementsArePrepared(t *testing.T) {
	db := openKV(t)
	ctx := context.Background()
	for i := range 3 {
		if _, err := db.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, 'v')`, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Second)
	for db.Stats().Prepared < 4 && time.Now().Before(deadline) { // savepoint statements + the insert
		time.Sleep(time.Millisecond)
	}
	if got := db.Stats().Prepared; got < 4 {
		t.Errorf("prepared statements = %d, want the insert kept", got)
	}
	if got := count(t, db, `SELECT COUNT(*) FROM kv`); got != 3 {
		t.Errorf("rows = %d", got)
	}
}

// The writer never checkpoints; the checkpointer must, or the WAL would
// grow without end and the database file never receive the data.
func TestCheckpointerMovesTheWAL(t *testing.T) {
	dir := t.TempDir()
	items := fstest.MapFS{"001_kv.sql": {Data: []byte(`CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT NOT NULL);`)}}
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{DSN: filepath.Join(dir, "kv.db"), Name: "kv", Migrations: items})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	size := func() int64 {
		st, err := os.Stat(filepath.Join(dir, "kv.db"))
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := size()
	ctx := context.Background()
	for i := range 2000 {
		if _, err := db.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, fmt.Sprint(i), strings.Repeat("x", 200)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() < before+300_000 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := size(); got < before+300_000 {
		t.Errorf("database file %d bytes after 400 KB of rows (was %d): the WAL was never checkpointed", got, before)
	}
}
