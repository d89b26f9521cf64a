package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/souk/souk/platform/sqlstore"
)

// envChild tells a re-executed test binary to act as one replica of a
// service writing to the SQLite file it names.
const envChild = "SQLSTORE_TEST_CHILD_DB"

const childWrites = 1500

// TestMain lets the test binary double as a child process for
// TestProcessesShareSQLiteFile.
func TestMain(m *testing.M) {
	if path := os.Getenv(envChild); path != "" {
		if err := runChild(path, os.Getenv("SQLSTORE_TEST_CHILD_ID")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(path, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: path, Name: "shop", Migrations: items})
	if err != nil {
		return err
	}
	defer db.Close()
	for i := range childWrites {
		err := db.Tx(ctx, func(tx *sqlstore.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, fmt.Sprintf("p%s-%d", id, i), id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE items SET qty = qty + 1 WHERE sku = 'seed'`)
			return err
		})
		if err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
	}
	return nil
}

// TestProcessesShareSQLiteFile starts three OS processes that open one new
// SQLite file at the same moment (racing to create it and migrate it) and
// then write to it concurrently, as replicas of one service do.
func TestProcessesShareSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared", "shop.sqlite")
	const procs = 3
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for p := range procs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envChild+"="+path, "SQLSTORE_TEST_CHILD_ID="+strconv.Itoa(p))
			outs[p], errs[p] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for p := range procs {
		if errs[p] != nil {
			t.Errorf("process %d: %v\n%s", p, errs[p], outs[p])
		}
	}
	if t.Failed() {
		return
	}
	db, err := sqlstore.Open(t.Context(), sqlstore.Options{DSN: path, Name: "shop", Migrations: items})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := count(t, db, `SELECT COUNT(*) FROM kv`); got != procs*childWrites {
		t.Errorf("rows = %d, want %d", got, procs*childWrites)
	}
	if got := count(t, db, `SELECT qty FROM items WHERE sku = 'seed'`); got != 1+procs*childWrites {
		t.Errorf("counter = %d, want %d (lost updates or a repeated seed)", got, 1+procs*childWrites)
	}
	if got := count(t, db, `SELECT COUNT(*) FROM schema_migrations`); got != 3 {
		t.Errorf("schema_migrations rows = %d, want 3", got)
	}
}
