package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect is the SQL engine behind a DB.
type Dialect uint8

const (
	// SQLite is a local file opened with modernc.org/sqlite (pure Go).
	SQLite Dialect = iota + 1
	// Postgres is a PostgreSQL server reached with jackc/pgx/v5.
	Postgres
)

// String returns "sqlite" or "postgres".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "dialect(" + strconv.Itoa(int(d)) + ")"
}

// Durability says what a committed transaction survives; see the package
// documentation.
type Durability uint8

const (
	// Normal survives a crash of the process; on SQLite the last transactions
	// before a power loss or kernel crash may be lost (never corrupted).
	Normal Durability = iota
	// Strict survives power loss as well: SQLite syncs the WAL on every commit.
	Strict
)

// String returns "normal" or "strict".
func (d Durability) String() string {
	switch d {
	case Normal:
		return "normal"
	case Strict:
		return "strict"
	}
	return "durability(" + strconv.Itoa(int(d)) + ")"
}

// Options configure Open. Only DSN and Name are required.
type Options struct {
	// DSN is "postgres://..." or "postgresql://..." for PostgreSQL; anything
	// else is the path of a SQLite file, whose parent folders are created.
	DSN string
	// Name is the service owning the database: it tags logs and is the scope
	// of its migrations in schema_migrations. It must not be "platform".
	Name string
	// Migrations holds the service's *.sql files, applied in lexical order of
	// their names at the root of the FS (or, when the root has none, in a
	// "migrations" folder). May be nil.
	Migrations fs.FS
	// Durability selects what a commit survives on SQLite. PostgreSQL keeps
	// synchronous_commit on for both.
	Durability Durability
	// MaxReadConns is the size of the SQLite read pool; default 4.
	MaxReadConns int
	// MaxConns is the size of the PostgreSQL pool; default 16.
	MaxConns int
	// BusyTimeout is how long a SQLite connection waits for a lock held by
	// another connection or process before failing with SQLITE_BUSY; default 5s.
	BusyTimeout time.Duration
	// Logger receives migration and retry records; default discards.
	Logger *slog.Logger
	// Now is the clock used for timestamps the package writes itself
	// (schema_migrations.applied_at, inbox.processed_at); default time.Now.
	Now func() time.Time
}

// DB is a service's database: a write pool and a read pool (the same pool on
// PostgreSQL). It is safe for concurrent use.
type DB struct {
	dialect      Dialect
	name         string
	write        *sql.DB
	read         *sql.DB
	writer       *writer       // SQLite: the group commit owning the write connection
	checkpointer *checkpointer // SQLite: WAL checkpoints off the write path
	readStmts    *stmtCache    // SQLite: prepared reads
	log          *slog.Logger
	now          func() time.Time
	rebind       *rebinder
}

// Stats are the pools' statistics, for metrics. On PostgreSQL Read and Write
// describe the same pool.
type Stats struct {
	Write sql.DBStats
	Read  sql.DBStats
	// Batches and Transactions count the SQLite group commits and the
	// transactions they carried: Transactions/Batches is the average batch.
	Batches, Transactions int64
	// Prepared counts the write statements prepared and kept (SQLite).
	Prepared int64
}

const platformScope = "platform"

// Open opens the database named by opts.DSN, configures it, applies the
// platform migrations and then opts.Migrations, and returns it ready to use.
// Several processes may Open the same database at once: each migration is
// applied by exactly one of them. It fails when the database cannot be
// reached or a migration fails; nothing is left open then.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.Name == "" {
		return nil, errors.New("open sqlstore: Options.Name is required")
	}
	if opts.Name == platformScope {
		return nil, fmt.Errorf("open sqlstore %s: the name %q is reserved", opts.Name, platformScope)
	}
	if opts.DSN == "" {
		return nil, fmt.Errorf("open sqlstore %s: Options.DSN is required", opts.Name)
	}
	if opts.Durability > Strict {
		return nil, fmt.Errorf("open sqlstore %s: unknown durability %d", opts.Name, opts.Durability)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.MaxReadConns <= 0 {
		opts.MaxReadConns = 4
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}

	db := &DB{
		name: opts.Name,
		log:  opts.Logger.With("component", "sqlstore", "db", opts.Name),
		now:  opts.Now,
	}
	var err error
	if isPostgresDSN(opts.DSN) {
		db.dialect = Postgres
		db.rebind = newRebinder()
		err = db.openPostgres(ctx, opts)
	} else {
		db.dialect = SQLite
		err = db.openSQLite(ctx, opts)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlstore %s: %w", opts.Name, err)
	}
	if err := db.migrate(ctx, platformScope, platformMigrations()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlstore %s: %w", opts.Name, err)
	}
	if opts.Migrations != nil {
		if err := db.migrate(ctx, opts.Name, opts.Migrations); err != nil {
			db.Close()
			return nil, fmt.Errorf("open sqlstore %s: %w", opts.Name, err)
		}
	}
	if db.dialect == SQLite {
		// From here on the writer owns the write connection.
		if db.writer, err = startWriter(ctx, db, db.write); err != nil {
			db.Close()
			return nil, fmt.Errorf("open sqlstore %s: %w", opts.Name, err)
		}
		db.readStmts = &stmtCache{pool: db.read}
		if db.checkpointer, err = startCheckpointer(opts.DSN, opts.BusyTimeout, db.log); err != nil {
			db.Close()
			return nil, fmt.Errorf("open sqlstore %s: %w", opts.Name, err)
		}
	}
	return db, nil
}

// SQLitePageSize is the page size of the SQLite files sqlstore creates.
// A commit writes every page it changed to the WAL whole (and again to the
// database at the checkpoint), so the page size sets the bytes a small
// transaction costs the disk: at checkout, 2 KiB pages write ~38 % fewer
// bytes per order than SQLite's default 4 KiB, and 1 KiB ~57 % fewer
// (docs/benchmarks.md, "Checkout capacity"). 2 KiB still holds several
// rows of the largest tables (an order's read model, ~550 bytes) per page,
// where 1 KiB would hold one and grow those tables by half.
const SQLitePageSize = 2048

func isPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func (db *DB) openSQLite(ctx context.Context, opts Options) error {
	path := opts.DSN
	if path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		// The two pools must reach the same file, and the driver's DSN
		// parameters are ours to set.
		return fmt.Errorf("sqlite dsn %q: want a plain file path", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", path, err)
		}
	}
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	sync := "NORMAL"
	if opts.Durability == Strict {
		sync = "FULL"
	}
	// _txlock=immediate makes every write transaction take the write lock at
	// BEGIN, where the busy timeout applies; a deferred transaction that reads
	// and then writes would instead fail with SQLITE_BUSY at once whenever
	// another connection committed in between.
	//
	// wal_autocheckpoint(0): the writer never checkpoints at commit, where
	// copying a thousand WAL pages into the database would stall every
	// transaction queued behind it; the checkpointer does it beside.
	//
	// page_size applies to a new file only (the driver runs _pragma before
	// journal_mode, which writes the header); a file keeps the page size it
	// was made with.
	writeDSN := path + "?_txlock=immediate&_busy_timeout=" + busy +
		"&_journal_mode=WAL&_synchronous=" + sync + "&_foreign_keys=on&_pragma=wal_autocheckpoint(0)" +
		"&_pragma=page_size(" + strconv.Itoa(SQLitePageSize) + ")"
	readDSN := path + "?_busy_timeout=" + busy + "&_foreign_keys=on&_query_only=1"

	w, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	// One writer: SQLite allows one write transaction at a time per file, so
	// a second write connection in this process would only wait on the lock
	// (or fail with SQLITE_BUSY) instead of queueing in the pool.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db.write = w

	// The first connection switches a new file to WAL, which needs an
	// exclusive lock: a process opening the file at the same moment can get
	// SQLITE_BUSY from that without the busy handler being consulted.
	var mode string
	if err := db.retry(ctx, "open", func() error {
		return w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	}); err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open %s: journal_mode is %q, want wal", path, mode)
	}

	r, err := sql.Open("sqlite", readDSN)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.MaxReadConns)
	r.SetMaxIdleConns(opts.MaxReadConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	db.read = r
	if err := db.retry(ctx, "open", func() error { return r.PingContext(ctx) }); err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	return nil
}

func (db *DB) openPostgres(ctx context.Context, opts Options) error {
	cfg, err := pgx.ParseConfig(opts.DSN)
	if err != nil {
		return fmt.Errorf("parse postgres dsn: %w", err) // pgx masks the password
	}
	if _, ok := cfg.RuntimeParams["synchronous_commit"]; !ok {
		cfg.RuntimeParams["synchronous_commit"] = "on"
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = opts.Name
	}
	p := stdlib.OpenDB(*cfg)
	p.SetMaxOpenConns(opts.MaxConns)
	p.SetMaxIdleConns(opts.MaxConns)
	p.SetConnMaxIdleTime(5 * time.Minute)
	db.write, db.read = p, p
	if err := p.PingContext(ctx); err != nil {
		return fmt.Errorf("connect postgres %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	return nil
}

// Dialect reports the engine behind db.
func (db *DB) Dialect() Dialect { return db.dialect }

// Name is the service name given to Open.
func (db *DB) Name() string { return db.name }

// Close closes both pools. Queries in flight fail afterwards.
func (db *DB) Close() error {
	var errs []error
	if db.writer != nil {
		errs = append(errs, db.writer.close())
	}
	if db.checkpointer != nil {
		errs = append(errs, db.checkpointer.close())
	}
	db.readStmts.close()
	if db.read != nil && db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlstore %s: %w", db.name, err)
	}
	return nil
}

// Ping checks that both pools can reach the database.
func (db *DB) Ping(ctx context.Context) error {
	var err error
	if db.writer != nil {
		// The writer owns the write connection: ping through it.
		err = db.writer.do(ctx, func(tx *Tx) error { return tx.QueryRow(ctx, "SELECT 1").Scan(new(int)) })
	} else {
		err = db.write.PingContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("ping %s: %w", db.name, err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("ping %s: %w", db.name, err)
		}
	}
	return nil
}

// Stats returns the pools' statistics.
func (db *DB) Stats() Stats {
	st := Stats{Write: db.write.Stats(), Read: db.read.Stats()}
	if db.writer != nil {
		st.Batches, st.Transactions, st.Prepared = db.writer.batches.Load(), db.writer.txs.Load(), db.writer.prepared.Load()
	}
	return st
}

// Exec runs one statement on the write pool in its own transaction,
// retrying it like Tx when the database is busy (a statement that failed
// that way had no effect). Use Tx to run several statements atomically.
// On PostgreSQL, Result.LastInsertId is not supported: use RETURNING in a
// Tx.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q := db.bind(query)
	var res sql.Result
	if db.writer != nil {
		err := db.writer.do(ctx, func(tx *Tx) error {
			var err error
			res, err = tx.Exec(ctx, q, args...)
			return err
		})
		return res, err
	}
	err := db.retry(ctx, "exec", func() error {
		var err error
		res, err = db.write.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}

// Query runs a read on the read pool. On SQLite the read pool is read-only:
// a write (including INSERT ... RETURNING) fails; use Tx. A read does not
// wait for writers and sees the last committed state.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := db.bind(query)
	if s := db.readStmts.get(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.read.QueryContext(ctx, q, args...)
}

// QueryRow is Query for at most one row; errors are deferred to Scan, and
// no row is sql.ErrNoRows.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := db.bind(query)
	if s := db.readStmts.get(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.read.QueryRowContext(ctx, q, args...)
}

// bind rewrites ? placeholders for the dialect.
func (db *DB) bind(query string) string {
	if db.rebind == nil {
		return query
	}
	return db.rebind.rebind(query)
}
