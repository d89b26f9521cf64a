-- One row per product. Every unit ever stocked (initial + restocked) is in
-- exactly one of available, reserved and sold; the CHECKs make the database
-- refuse any write that breaks that, whatever the code does.
CREATE TABLE stock (
    product_id TEXT NOT NULL PRIMARY KEY,
    initial    BIGINT NOT NULL,
    restocked  BIGINT NOT NULL, -- net admin adjustments: may be negative
    available  BIGINT NOT NULL,
    reserved   BIGINT NOT NULL,
    sold       BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (initial >= 0 AND available >= 0 AND reserved >= 0 AND sold >= 0),
    CHECK (initial + restocked = available + reserved + sold)
);

-- One row per order that ever reserved, or was released before it did (a
-- tombstone without items). Rows are never deleted: the row is what makes
-- every call idempotent per order.
CREATE TABLE reservations (
    order_id   TEXT NOT NULL PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('reserved', 'committed', 'released')),
    reason     TEXT NOT NULL DEFAULT '' CHECK (reason IN ('', 'released', 'expired', 'cancelled')),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What the expiry sweep scans: only reservations still holding stock.
CREATE INDEX reservations_due ON reservations (expires_at) WHERE status = 'reserved';

CREATE TABLE reservation_items (
    order_id   TEXT NOT NULL REFERENCES reservations (order_id),
    product_id TEXT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);
