-- The event store: every order is the fold of its events. It is also the
-- outbox: the relay publishes rows whose published_at is NULL, in seq order.
CREATE TABLE order_events (
    seq          {{autoid}},
    event_id     TEXT NOT NULL UNIQUE,
    order_id     TEXT NOT NULL,
    version      INT NOT NULL,
    type         TEXT NOT NULL,
    data         TEXT NOT NULL,
    headers      TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    published_at BIGINT,
    -- Optimistic concurrency: two writers appending the same version of one
    -- order cannot both commit.
    UNIQUE (order_id, version)
);
CREATE INDEX order_events_unpublished ON order_events (seq) WHERE published_at IS NULL;

-- The read model (CQRS query side), updated in the transaction of each
-- append so a customer reads their own writes. It also carries the saga's
-- lease: which process may drive the order's next step, until when.
CREATE TABLE orders (
    id          TEXT NOT NULL PRIMARY KEY,
    customer_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    step        TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    version     INT NOT NULL,
    view        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX orders_by_customer ON orders (customer_id, created_at, id);
CREATE INDEX orders_pending ON orders (lease_until) WHERE status = 'PENDING';
