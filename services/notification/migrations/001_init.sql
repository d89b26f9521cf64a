-- One row per email sent. event_id is the event that caused it: a second
-- guard, after the inbox, against writing an event's email twice.
CREATE TABLE messages (
    id         TEXT NOT NULL PRIMARY KEY, -- UUIDv7
    event_id   TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    order_id   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('order_confirmation', 'order_cancelled', 'order_shipped')),
    to_email   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A user's mailbox, newest first: keyset pages on (created_at, id).
CREATE INDEX messages_by_user ON messages (user_id, created_at, id);

-- The audit: counts per (order_id, kind), in order id order.
CREATE INDEX messages_by_order ON messages (order_id, kind);
