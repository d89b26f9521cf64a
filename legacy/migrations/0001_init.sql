-- The monolith's one database: everything it knows, side by side, joined
-- at will. That is what made it easy to build and is what makes it hard to
-- split.
CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    stock       BIGINT NOT NULL
);

CREATE TABLE sales (
    id           BIGINT PRIMARY KEY,
    product_id   TEXT NOT NULL REFERENCES products (id),
    quantity     BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL,
    sold_at      BIGINT NOT NULL
);

CREATE INDEX sales_by_product ON sales (product_id);
