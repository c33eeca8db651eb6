-- Reverse lookups of manifests: which manifests of a repository list a given
-- child manifest (index parents), and which reference a given blob (as config
-- or layer). They run on every authorized pull, so they must be index scans.
--
-- `manifests.blobs` and `manifests.children` stay the source of a manifest's
-- record (in their pushed order); this table holds the same references one
-- per row, deduplicated, so that one B-tree range scan per repository finds
-- them already in byte-wise digest order. A GIN index on the arrays could not
-- be restricted to one repository (without the `btree_gin` extension), so a
-- digest shared by many repositories, such as a common base layer, would scan
-- every repository's manifests.
--
-- Rows are written with their manifest by `manifests::put` and go with it by
-- the foreign key's `ON DELETE CASCADE`.
CREATE TABLE manifest_refs (
    repo_id BIGINT NOT NULL,
    kind    TEXT COLLATE "C" NOT NULL CHECK (kind IN ('blob', 'child')),
    target  TEXT COLLATE "C" NOT NULL, -- the referenced blob or child digest
    digest  TEXT COLLATE "C" NOT NULL, -- the referencing manifest
    PRIMARY KEY (repo_id, kind, target, digest),
    FOREIGN KEY (repo_id, digest) REFERENCES manifests (repo_id, digest) ON DELETE CASCADE
);

-- Serves the cascade when a manifest is deleted.
CREATE INDEX manifest_refs_by_manifest ON manifest_refs (repo_id, digest);

-- Backfill the manifests stored before this migration.
INSERT INTO manifest_refs (repo_id, kind, target, digest)
SELECT m.repo_id, 'blob', b.target, m.digest
FROM manifests m CROSS JOIN LATERAL unnest(m.blobs) AS b (target)
UNION
SELECT m.repo_id, 'child', c.target, m.digest
FROM manifests m CROSS JOIN LATERAL unnest(m.children) AS c (target);
