package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// Inbox records that consumer is applying the event eventID in this
// transaction and reports whether it is the first time: the caller applies
// the event's effect only when first is true, in the same transaction, so
// that a redelivered event has exactly one effect. When two transactions
// record the same event at once, exactly one of them sees first == true
// (on PostgreSQL the other waits for it to commit or roll back).
func (tx *Tx) Inbox(ctx context.Context, consumer, eventID string) (first bool, err error) {
	res, err := tx.Exec(ctx, `INSERT INTO inbox (consumer, event_id, processed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		consumer, eventID, tx.db.now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("inbox %s %s: %w", consumer, eventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("inbox %s %s: %w", consumer, eventID, err)
	}
	return n == 1, nil
}

// pruneBatch bounds each delete so that pruning never holds SQLite's write
// lock for long.
const pruneBatch = 1000

// PruneInbox deletes inbox rows processed before olderThan, in batches of
// its own transactions, and returns how many it deleted. Keep rows for
// longer than the broker may redeliver (its max age plus margin): an event
// redelivered after its row is pruned is applied again.
func (db *DB) PruneInbox(ctx context.Context, olderThan time.Time) (int64, error) {
	var total int64
	for {
		res, err := db.Exec(ctx, `DELETE FROM inbox WHERE (consumer, event_id) IN
			(SELECT consumer, event_id FROM inbox WHERE processed_at < ? LIMIT ?)`,
			olderThan.UnixMilli(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune inbox %s: %w", db.name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("prune inbox %s: %w", db.name, err)
		}
		total += n
		if n < pruneBatch || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}
