-- Reverse lookups over manifest references: which manifests of a repository
-- list a given child manifest (index parents) or a given blob (config or
-- layer). The `children` and `blobs` JSON columns of `manifests` stay the
-- source of truth; this table mirrors them, one row per distinct reference,
-- so that a lookup is an index range scan instead of a scan of a
-- repository's manifests.
--
-- Rows are written with their manifest (in the same transaction) and go with
-- it: `delete_manifest` deletes them explicitly, and the foreign key cascades.
CREATE TABLE manifest_refs (
    repo_id    INTEGER NOT NULL,
    digest     TEXT    NOT NULL, -- the referencing manifest
    kind       TEXT    NOT NULL CHECK (kind IN ('child', 'blob')),
    referenced TEXT    NOT NULL, -- the child manifest or blob digest
    PRIMARY KEY (repo_id, digest, kind, referenced),
    FOREIGN KEY (repo_id, digest) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- The lookup: manifests of a repository referencing a digest, in digest
-- order (the trailing `digest` makes the index covering and sorted).
CREATE INDEX manifest_refs_by_target ON manifest_refs (repo_id, kind, referenced, digest);

-- Backfill from the manifests stored before this migration.
INSERT INTO manifest_refs (repo_id, digest, kind, referenced)
SELECT m.repo_id, m.digest, 'child', j.value
FROM manifests m, json_each(m.children) j
UNION
SELECT m.repo_id, m.digest, 'blob', j.value
FROM manifests m, json_each(m.blobs) j;
