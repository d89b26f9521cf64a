package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// checkpointInterval is how often the checkpointer copies the WAL back into
// the database file.
const checkpointInterval = 250 * time.Millisecond

// checkpointer runs SQLite's WAL checkpoints on a connection of its own, in
// PASSIVE mode, which never waits for and never blocks readers or the
// writer. Left to SQLite, the checkpoint runs inside the commit that pushes
// the WAL past 1000 pages, and every transaction queued behind that commit
// waits for the copy: the p99 of a busy service. Several processes sharing
// one file (replicas) each run one; checkpoints are safe concurrently.
type checkpointer struct {
	db      *sql.DB
	log     *slog.Logger
	stop    chan struct{}
	stopped chan struct{}
}

func startCheckpointer(path string, busy time.Duration, log *slog.Logger) (*checkpointer, error) {
	db, err := sql.Open("sqlite", path+"?_busy_timeout="+strconv.FormatInt(busy.Milliseconds(), 10))
	if err != nil {
		return nil, fmt.Errorf("checkpoint connection: %w", err)
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, log: log, stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.loop()
	return c, nil
}

func (c *checkpointer) loop() {
	defer close(c.stopped)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var busy, frames, done int
		err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done)
		cancel()
		if err != nil {
			c.log.Warn("wal checkpoint", "err", err)
		}
	}
}

func (c *checkpointer) close() error {
	close(c.stop)
	<-c.stopped
	// A last full pass, so a cleanly stopped service leaves a small WAL.
	_, _ = c.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	return c.db.Close()
}
