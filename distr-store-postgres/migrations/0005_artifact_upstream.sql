-- Pull-through artifacts: the upstream repository an artifact mirrors, with
-- the credentials distr reads it with, and how its syncs went.
--
-- All upstream columns are NULL for artifacts the vendor pushes directly;
-- `upstream_ref` is set exactly when the artifact has an upstream, and the
-- store writes (and clears) the five columns together.
--
-- `upstream_auth_kind` is 'none', 'basic' or 'ecr' (a new kind of
-- credentials replaces the named CHECK constraint). `upstream_username` holds
-- the Basic user name or the ECR access key id, `upstream_secret` the Basic
-- password or the ECR secret access key.
--
-- SECURITY: `upstream_secret` is stored in PLAINTEXT for now; encrypting
-- upstream credentials at rest is a later change. Restrict access to the
-- database (and its backups) accordingly.
ALTER TABLE artifacts
    ADD COLUMN upstream_ref       TEXT COLLATE "C",
    ADD COLUMN upstream_auth_kind TEXT COLLATE "C",
    ADD COLUMN upstream_username  TEXT COLLATE "C",
    ADD COLUMN upstream_secret    TEXT COLLATE "C",
    ADD COLUMN upstream_insecure  BOOLEAN,
    ADD CONSTRAINT artifacts_upstream_auth_kind
        CHECK (upstream_auth_kind IN ('none', 'basic', 'ecr')),
    ADD CONSTRAINT artifacts_upstream_complete
        CHECK (upstream_ref IS NULL
               OR (upstream_auth_kind IS NOT NULL AND upstream_insecure IS NOT NULL));

-- The sync job lists the artifacts with an upstream, of every vendor.
CREATE INDEX artifacts_with_upstream ON artifacts (created_at_ms)
    WHERE upstream_ref IS NOT NULL;

-- How an artifact's upstream syncs went (`distr_core::access::SyncStatus`),
-- one row per artifact that has a status; none means the default status.
--
-- A table of its own, without an `access_version` trigger (0004), so that
-- recording a sync, which happens all the time, never moves the access
-- version: a sync status changes no access decision. The row goes with its
-- artifact.
CREATE TABLE artifact_sync_status (
    artifact_id             UUID   PRIMARY KEY REFERENCES artifacts (id) ON DELETE CASCADE,
    last_synced_at_ms       BIGINT,
    last_sync_attempt_at_ms BIGINT,
    last_sync_error         TEXT COLLATE "C"
);
