-- Pull-through artifacts: the upstream repository an artifact mirrors, with
-- the credentials distr reads it with, and how its syncs went.
--
-- All upstream columns are NULL for artifacts the vendor pushes directly;
-- `upstream_ref` is set exactly when the artifact has an upstream, and the
-- store writes (and clears) the five columns together.
--
-- `upstream_auth_kind` is 'none', 'basic' or 'ecr'. It has no CHECK
-- constraint on purpose: SQLite cannot change a column's constraint without
-- rebuilding the table, and the store refuses unknown kinds on decoding
-- (`StoreError::Corrupt`) anyway. `upstream_username` holds the Basic user
-- name or the ECR access key id, `upstream_secret` the Basic password or the
-- ECR secret access key.
--
-- SECURITY: `upstream_secret` is stored in PLAINTEXT for now; encrypting
-- upstream credentials at rest is a later change. Protect the database file
-- (and its backups) accordingly.
ALTER TABLE artifacts ADD COLUMN upstream_ref TEXT;
ALTER TABLE artifacts ADD COLUMN upstream_auth_kind TEXT;
ALTER TABLE artifacts ADD COLUMN upstream_username TEXT;
ALTER TABLE artifacts ADD COLUMN upstream_secret TEXT;
ALTER TABLE artifacts ADD COLUMN upstream_insecure INTEGER
    CHECK (upstream_insecure IN (0, 1));

-- The sync job lists the artifacts with an upstream, of every vendor.
CREATE INDEX artifacts_with_upstream ON artifacts (created_at_ms, id)
    WHERE upstream_ref IS NOT NULL;

-- How an artifact's upstream syncs went (`distr_core::access::SyncStatus`),
-- one row per artifact that has a status; none means the default status.
--
-- A table of its own so that recording a sync, which happens all the time,
-- fires none of the `access_version` triggers on `artifacts` (0004): a sync
-- status changes no access decision. The row goes with its artifact (the
-- foreign key cascades, and the store also deletes it explicitly).
CREATE TABLE artifact_sync_status (
    artifact_id             TEXT    PRIMARY KEY REFERENCES artifacts (id) ON DELETE CASCADE,
    last_synced_at_ms       INTEGER,
    last_sync_attempt_at_ms INTEGER,
    last_sync_error         TEXT
) STRICT;
