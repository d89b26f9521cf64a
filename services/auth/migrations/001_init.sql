-- Accounts. The email is stored trimmed and lower-cased, so UNIQUE is
-- case-insensitive uniqueness. password_hash is an argon2id PHC string that
-- carries its own parameters.
CREATE TABLE users (
    id            TEXT NOT NULL PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('customer', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Ed25519 signing keys, shared by every replica. private_key is the 32-byte
-- seed. A key is published from created_at, signs from active_at (created_at
-- plus the publish delay), and leaves the JWKS at retired_at, set once the
-- last token it can have signed has expired; NULL while it is published.
CREATE TABLE signing_keys (
    kid         TEXT NOT NULL PRIMARY KEY,
    private_key {{blob}} NOT NULL,
    created_at  BIGINT NOT NULL,
    active_at   BIGINT NOT NULL,
    retired_at  BIGINT
);
