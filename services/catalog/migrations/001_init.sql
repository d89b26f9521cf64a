-- One row per product: what the shop sells and at what price. Reads go by
-- the primary key: a point read for a product page, a range scan for a page
-- of the list (keyset pagination by id), an IN list for the order service.
CREATE TABLE products (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    -- version starts at 1 and grows by one per change; PRODUCT_* events
    -- carry it so read models can ignore stale or repeated events.
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
