-- The tenancy model (`distr_core::access`): vendor organisations, their
-- customers, users, access tokens, artifacts and entitlements.
--
-- Ids are UUIDs chosen by the application; times are milliseconds since the
-- Unix epoch, as in the model. Listings order by `created_at_ms` then
-- `id::text COLLATE "C"`, exactly as the in-memory store orders them. Every
-- text column uses the "C" collation, so that uniqueness and comparisons are
-- byte-wise whatever the database's default collation is.
--
-- Organisations are never deleted, so the `org_id` references never cascade;
-- they only refuse records of unknown organisations. Artifacts are not
-- referenced by entitlement items: deleting an artifact leaves the
-- entitlements that name it as they are, as in the in-memory store.

CREATE TABLE orgs (
    id            UUID   PRIMARY KEY,
    slug          TEXT COLLATE "C" NOT NULL UNIQUE,
    name          TEXT COLLATE "C" NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE customers (
    id            UUID   PRIMARY KEY,
    org_id        UUID   NOT NULL REFERENCES orgs (id),
    name          TEXT COLLATE "C" NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE INDEX customers_by_org ON customers (org_id);

-- Vendor admins have no customer; a customer's users go with it.
CREATE TABLE users (
    id            UUID   PRIMARY KEY,
    org_id        UUID   NOT NULL REFERENCES orgs (id),
    customer_id   UUID   REFERENCES customers (id) ON DELETE CASCADE,
    email         TEXT COLLATE "C" NOT NULL,
    role          TEXT COLLATE "C" NOT NULL
                  CHECK (role IN ('vendor_admin', 'customer_admin', 'customer_member')),
    created_at_ms BIGINT NOT NULL,
    UNIQUE (org_id, email)
);

CREATE INDEX users_by_customer ON users (customer_id) WHERE customer_id IS NOT NULL;

-- Only the SHA-256 of a token's secret is kept; its unique index serves the
-- lookup of every authenticated request.
CREATE TABLE tokens (
    id              UUID   PRIMARY KEY,
    user_id         UUID   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT COLLATE "C" NOT NULL,
    hash            TEXT COLLATE "C" NOT NULL,
    expires_at_ms   BIGINT,
    last_used_at_ms BIGINT,
    revoked_at_ms   BIGINT,
    created_at_ms   BIGINT NOT NULL,
    CONSTRAINT tokens_by_hash UNIQUE (hash)
);

CREATE INDEX tokens_by_user ON tokens (user_id);

CREATE TABLE artifacts (
    id            UUID   PRIMARY KEY,
    org_id        UUID   NOT NULL REFERENCES orgs (id),
    name          TEXT COLLATE "C" NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- The unique constraint's index also serves listing a customer's entitlements.
CREATE TABLE entitlements (
    id            UUID   PRIMARY KEY,
    org_id        UUID   NOT NULL REFERENCES orgs (id),
    customer_id   UUID   NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name          TEXT COLLATE "C" NOT NULL,
    expires_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (customer_id, name)
);

CREATE INDEX entitlements_by_org ON entitlements (org_id);

-- The items of an entitlement, in order. `kind` is 'all' (every tag) or
-- 'only' (the tags matching any of `patterns`, possibly none).
CREATE TABLE entitlement_items (
    entitlement_id UUID    NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL CHECK (position >= 0),
    artifact_id    UUID    NOT NULL,
    kind           TEXT COLLATE "C" NOT NULL CHECK (kind IN ('all', 'only')),
    patterns       TEXT[] COLLATE "C" NOT NULL DEFAULT '{}',
    PRIMARY KEY (entitlement_id, position),
    CHECK (kind = 'only' OR patterns = '{}')
);

CREATE INDEX entitlement_items_by_artifact ON entitlement_items (artifact_id, entitlement_id);
