-- Tables every service uses. Timestamps are unix milliseconds. Primary-key
-- columns say NOT NULL because SQLite would otherwise accept NULL in them.

-- inbox: one row per event a consumer has applied, so a redelivered event
-- has exactly one effect (Tx.Inbox).
CREATE TABLE inbox (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX inbox_processed_at ON inbox (processed_at);

-- outbox: events written in the same transaction as the change they
-- describe, published later by the relay in seq order.
CREATE TABLE outbox (
    seq          {{autoid}},
    event_id     TEXT NOT NULL UNIQUE,
    source       TEXT,
    type         TEXT,
    key          TEXT,
    data         TEXT,
    headers      TEXT,
    created_at   BIGINT,
    published_at BIGINT
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

-- idempotency: the stored response of a request made with an
-- Idempotency-Key, per scope (usually the caller).
CREATE TABLE idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT,
    status       INT,
    body         TEXT,
    created_at   BIGINT,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_created_at ON idempotency (created_at);
