-- Initial schema of the distr Postgres metadata store.
--
-- Every name, tag and digest column uses the "C" collation, so `ORDER BY` and
-- `>` compare them byte-wise, as the registry's listings require, whatever
-- the database's default collation is. Unqualified names: the tables are
-- created in the first schema of the connection's `search_path`.

-- Every repository ever written to. Rows are never removed: whether a
-- repository "exists" is decided by what it holds (blob links, manifests or
-- upload sessions), exactly as in the in-memory store.
CREATE TABLE repositories (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE
);

-- Blobs a repository holds (the bytes live in blob storage).
CREATE TABLE blob_links (
    repo_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest  TEXT COLLATE "C" NOT NULL,
    size    BIGINT NOT NULL CHECK (size >= 0),
    PRIMARY KEY (repo_id, digest)
);

-- Manifests: the exact bytes as pushed plus the fields parsed from them.
-- Annotations are JSON text rather than JSONB: JSONB rejects `\u0000`, which
-- a pushed manifest may contain.
CREATE TABLE manifests (
    repo_id       BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT COLLATE "C" NOT NULL,
    media_type    TEXT   NOT NULL,
    content       BYTEA  NOT NULL,
    subject       TEXT COLLATE "C",
    artifact_type TEXT,
    annotations   TEXT   NOT NULL DEFAULT '{}', -- JSON object of strings
    blobs         TEXT[] NOT NULL DEFAULT '{}', -- digests
    children      TEXT[] NOT NULL DEFAULT '{}', -- digests
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (repo_id, digest)
);

-- Referrers lookup: manifests of a repository by subject, in digest order.
CREATE INDEX manifests_by_subject ON manifests (repo_id, subject, digest)
    WHERE subject IS NOT NULL;

-- Tags point at manifests of the same repository; deleting a manifest
-- deletes its tags.
CREATE TABLE tags (
    repo_id BIGINT NOT NULL,
    name    TEXT COLLATE "C" NOT NULL,
    digest  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (repo_id, name),
    FOREIGN KEY (repo_id, digest) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
);

CREATE INDEX tags_by_manifest ON tags (repo_id, digest);

-- Chunked upload sessions. `size` is the sum of the parts' sizes, kept next to
-- `parts` so that an update can compare-and-set on it in one statement.
CREATE TABLE uploads (
    id            TEXT   PRIMARY KEY,
    repo_id       BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    parts         TEXT   NOT NULL DEFAULT '[]', -- JSON array of {key, size}
    size          BIGINT NOT NULL DEFAULT 0 CHECK (size >= 0),
    created_at_ms BIGINT NOT NULL
);

CREATE INDEX uploads_by_repo ON uploads (repo_id);
