-- E-mail addresses become unique per customer (and among the vendor's own
-- users) instead of per vendor, so that one customer's admin can neither
-- find out which addresses another customer uses nor take an address
-- another customer needs.
--
-- SQLite cannot drop a table's UNIQUE constraint, so `users` is rebuilt.
-- `tokens` references it with ON DELETE CASCADE and dropping `users` would
-- delete every token: `tokens` is rebuilt first, referencing the new table,
-- and the renames carry the reference over.
CREATE TABLE users_new (
    id            TEXT    PRIMARY KEY,
    org_id        TEXT    NOT NULL,
    customer_id   TEXT    REFERENCES customers (id) ON DELETE CASCADE,
    email         TEXT    NOT NULL,
    role          TEXT    NOT NULL
        CHECK (role IN ('vendor_admin', 'customer_admin', 'customer_member')),
    created_at_ms INTEGER NOT NULL
) STRICT;

INSERT INTO users_new (id, org_id, customer_id, email, role, created_at_ms)
SELECT id, org_id, customer_id, email, role, created_at_ms FROM users;

CREATE TABLE tokens_new (
    id              TEXT    PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users_new (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    expires_at_ms   INTEGER,
    last_used_at_ms INTEGER,
    revoked_at_ms   INTEGER,
    created_at_ms   INTEGER NOT NULL
) STRICT;

INSERT INTO tokens_new
    (id, user_id, name, hash, expires_at_ms, last_used_at_ms, revoked_at_ms, created_at_ms)
SELECT id, user_id, name, hash, expires_at_ms, last_used_at_ms, revoked_at_ms, created_at_ms
FROM tokens;

DROP TABLE tokens;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
ALTER TABLE tokens_new RENAME TO tokens;

CREATE INDEX users_by_customer ON users (customer_id);
-- The vendor's own users have no customer: '' stands for "the vendor".
CREATE UNIQUE INDEX users_email_per_customer ON users (org_id, coalesce(customer_id, ''), email);
CREATE UNIQUE INDEX tokens_by_hash ON tokens (hash);
CREATE INDEX tokens_by_user ON tokens (user_id, created_at_ms, id);
