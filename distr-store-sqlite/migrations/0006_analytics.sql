-- Download analytics (`distr_core::analytics`): one row per manifest GET,
-- and per-(artifact, customer) counters of blob bytes served.
--
-- Ids are the model's UUIDs as hyphenated lower-case text, as in 0002; IPs
-- are text (`IpAddr`'s canonical form); times are ms since the Unix epoch.
-- No foreign keys: analytics outlive the records they mention, and writing
-- them must never fail because a customer or artifact was just deleted.
--
-- Which rows count as pulls (multi-platform follow-ups do not) is decided by
-- the store's queries, see `distr_core::analytics`.
CREATE TABLE pull_events (
    id          TEXT    PRIMARY KEY,
    org_id      TEXT    NOT NULL,
    artifact_id TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL,
    tag         TEXT,             -- NULL for a GET by digest
    digest      TEXT    NOT NULL,
    is_index    INTEGER NOT NULL CHECK (is_index IN (0, 1)),
    customer_id TEXT,
    user_id     TEXT,
    token_id    TEXT,
    ip          TEXT,
    user_agent  TEXT
) STRICT;

-- The log, newest first, paged by (at_ms, id).
CREATE INDEX pull_events_by_time ON pull_events (org_id, at_ms DESC, id DESC);
-- Pulls per tag of an artifact.
CREATE INDEX pull_events_by_tag ON pull_events (org_id, artifact_id, tag);
-- A customer's pulls, and the customers of an artifact or vendor.
CREATE INDEX pull_events_by_customer ON pull_events (org_id, customer_id, artifact_id);
-- The follow-up rule looks for index GETs of an artifact with a token.
CREATE INDEX pull_events_index_gets ON pull_events (org_id, artifact_id, token_id, at_ms)
    WHERE is_index = 1 AND token_id IS NOT NULL;

-- Bytes of blobs served per (artifact, customer); `customer_id` is '' for
-- downloads without a customer (vendor users, anonymous), so that it can be
-- part of the key.
CREATE TABLE bytes_served (
    org_id      TEXT    NOT NULL,
    artifact_id TEXT    NOT NULL,
    customer_id TEXT    NOT NULL,
    bytes       INTEGER NOT NULL CHECK (bytes >= 0),
    last_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (org_id, artifact_id, customer_id)
) STRICT, WITHOUT ROWID;
