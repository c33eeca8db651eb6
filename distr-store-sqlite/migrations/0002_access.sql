-- The tenancy model: vendor organisations, their customers, users, access
-- tokens, artifacts and entitlements.
--
-- Ids are UUIDs in their hyphenated lower-case text form, so `ORDER BY
-- created_at_ms, id` lists records exactly as the in-memory store does
-- (creation time, then the id's display form). Times are ms since the Unix
-- epoch.
--
-- Foreign keys cascade where the access store's deletes do (a customer takes
-- its users and entitlements, a user its tokens, an entitlement its items);
-- the store also deletes dependants explicitly. `org_id` outside `customers`
-- and `entitlement_items.artifact_id` are plain columns, as in the in-memory
-- store: deleting an artifact leaves the entitlement items that name it.

-- Vendor organisations.
CREATE TABLE orgs (
    id            TEXT    PRIMARY KEY,
    slug          TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

-- Customer organisations of a vendor.
CREATE TABLE customers (
    id            TEXT    PRIMARY KEY,
    org_id        TEXT    NOT NULL REFERENCES orgs (id),
    name          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX customers_by_org ON customers (org_id, created_at_ms, id);

-- Users: vendor admins (no customer) and customer users. Emails are unique
-- within a vendor organisation.
CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    org_id        TEXT    NOT NULL,
    customer_id   TEXT    REFERENCES customers (id) ON DELETE CASCADE,
    email         TEXT    NOT NULL,
    role          TEXT    NOT NULL
        CHECK (role IN ('vendor_admin', 'customer_admin', 'customer_member')),
    created_at_ms INTEGER NOT NULL,
    UNIQUE (org_id, email)
) STRICT;

CREATE INDEX users_by_customer ON users (customer_id);

-- Access tokens: only the SHA-256 of the secret (hex) is kept.
CREATE TABLE tokens (
    id              TEXT    PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    expires_at_ms   INTEGER,
    last_used_at_ms INTEGER,
    revoked_at_ms   INTEGER,
    created_at_ms   INTEGER NOT NULL
) STRICT;

-- Authentication looks tokens up by hash.
CREATE UNIQUE INDEX tokens_by_hash ON tokens (hash);

CREATE INDEX tokens_by_user ON tokens (user_id, created_at_ms, id);

-- Artifacts of a vendor: one repository `<org-slug>/<name>` each.
CREATE TABLE artifacts (
    id            TEXT    PRIMARY KEY,
    org_id        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (org_id, name)
) STRICT;

-- Named grants of artifacts to a customer; names are unique per customer.
CREATE TABLE entitlements (
    id            TEXT    PRIMARY KEY,
    org_id        TEXT    NOT NULL,
    customer_id   TEXT    NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    expires_at_ms INTEGER,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (customer_id, name)
) STRICT;

CREATE INDEX entitlements_by_org ON entitlements (org_id);

-- The artifacts of an entitlement, in order, with the tags granted: `kind`
-- 'all' (every tag; `patterns` is empty) or 'only' (tags matching any of
-- `patterns`).
CREATE TABLE entitlement_items (
    entitlement_id TEXT    NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL CHECK (position >= 0),
    artifact_id    TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('all', 'only')),
    patterns       TEXT    NOT NULL DEFAULT '[]', -- JSON array of tag patterns
    PRIMARY KEY (entitlement_id, position)
) STRICT;

CREATE INDEX entitlement_items_by_artifact ON entitlement_items (artifact_id, entitlement_id);
