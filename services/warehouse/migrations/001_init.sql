-- One pick-and-pack task per placed order: UNIQUE order_id guards, after
-- the inbox, against a second task for the same order.
CREATE TABLE tasks (
    id          TEXT NOT NULL PRIMARY KEY, -- UUIDv7, so id order is creation order
    order_id    TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    email       TEXT NOT NULL,
    items       TEXT NOT NULL, -- JSON [{product_id, name, quantity}]
    status      TEXT NOT NULL CHECK (status IN ('pending', 'shipped')),
    created_at  BIGINT NOT NULL,
    shipped_at  BIGINT
);

-- Staff list the pending tasks, oldest first.
CREATE INDEX tasks_by_status ON tasks (status, id);
