-- Initial schema of the distr SQLite metadata store.
--
-- Text columns use SQLite's default BINARY collation, so `ORDER BY` and `>`
-- compare names byte-wise, as the registry's listings require.

-- Every repository ever written to. Rows are never removed: whether a
-- repository "exists" is decided by what it holds (blob links, manifests or
-- upload sessions), exactly as in the in-memory store.
CREATE TABLE repositories (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
) STRICT;

-- Blobs a repository holds (the bytes live in blob storage).
CREATE TABLE blob_links (
    repo_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest  TEXT    NOT NULL,
    size    INTEGER NOT NULL CHECK (size >= 0),
    PRIMARY KEY (repo_id, digest)
) STRICT;

-- Manifests: the exact bytes as pushed plus the fields parsed from them.
CREATE TABLE manifests (
    repo_id       INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT    NOT NULL,
    media_type    TEXT    NOT NULL,
    content       BLOB    NOT NULL,
    subject       TEXT,
    artifact_type TEXT,
    annotations   TEXT    NOT NULL DEFAULT '{}', -- JSON object of strings
    blobs         TEXT    NOT NULL DEFAULT '[]', -- JSON array of digests
    children      TEXT    NOT NULL DEFAULT '[]', -- JSON array of digests
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (repo_id, digest)
) STRICT;

-- Referrers lookup: manifests of a repository by subject, in digest order.
CREATE INDEX manifests_by_subject ON manifests (repo_id, subject, digest)
    WHERE subject IS NOT NULL;

-- Tags point at manifests of the same repository; deleting a manifest
-- deletes its tags.
CREATE TABLE tags (
    repo_id INTEGER NOT NULL,
    name    TEXT    NOT NULL,
    digest  TEXT    NOT NULL,
    PRIMARY KEY (repo_id, name),
    FOREIGN KEY (repo_id, digest) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
) STRICT;

CREATE INDEX tags_by_manifest ON tags (repo_id, digest);

-- Chunked upload sessions. `size` is the sum of the parts' sizes, kept next to
-- `parts` so that an update can compare-and-set on it in one statement.
CREATE TABLE uploads (
    id            TEXT    PRIMARY KEY,
    repo_id       INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    parts         TEXT    NOT NULL DEFAULT '[]', -- JSON array of {key, size}
    size          INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
    created_at_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX uploads_by_repo ON uploads (repo_id);
