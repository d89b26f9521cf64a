-- pairs: how many placed orders held both product_id and other_id. Each
-- pair is stored both ways, so one product's partners are one range of the
-- primary key, and pairs_top serves "the top partners of a product" without
-- sorting.
CREATE TABLE pairs (
    product_id TEXT NOT NULL,
    other_id   TEXT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (product_id, other_id)
);
CREATE INDEX pairs_top ON pairs (product_id, count DESC, other_id);

-- popularity: how many placed orders held product_id; the fallback when a
-- product has too few partners, and the denominator of a pair's score.
CREATE TABLE popularity (
    product_id TEXT NOT NULL PRIMARY KEY,
    count      BIGINT NOT NULL
);
CREATE INDEX popularity_top ON popularity (count DESC, product_id);
