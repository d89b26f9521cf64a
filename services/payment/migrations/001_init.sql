-- One row per order that ever reached payment: its current state.
CREATE TABLE charges (
    order_id       TEXT NOT NULL PRIMARY KEY,
    transaction_id TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL,
    amount_cents   BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    decline_reason TEXT NOT NULL DEFAULT '',
    last4          TEXT NOT NULL DEFAULT '',
    brand          TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- The ledger: money moved. At most one capture and one refund per order,
-- enforced by the database, whatever the callers do.
CREATE TABLE ledger (
    id             {{autoid}},
    order_id       TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    kind           TEXT NOT NULL,
    amount_cents   BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    UNIQUE (order_id, kind)
);
