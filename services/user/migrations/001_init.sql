-- Profiles: the read model of auth's accounts. email and role follow auth;
-- name is the user's own once the profile exists.
CREATE TABLE profiles (
    id         TEXT NOT NULL PRIMARY KEY,
    email      TEXT NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
