-- Garbage collection of blob bytes and eviction of pulled-through blobs
-- (`distr_core::gc`).

-- Blobs found unreferenced by a mark phase, with the time of their first
-- mark. A later sweep deletes those still unreferenced a grace period on.
CREATE TABLE gc_candidates (
    digest       TEXT    PRIMARY KEY,
    marked_at_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX gc_candidates_by_mark ON gc_candidates (marked_at_ms);

-- When a blob was last pulled (recorded at most about once a minute per
-- blob), for least-recently-pulled eviction of the pull-through cache.
CREATE TABLE blob_pulls (
    digest       TEXT    PRIMARY KEY,
    pulled_at_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- "Who holds this digest", across repositories: blob links, manifests
-- listing it, and manifests with that digest.
CREATE INDEX blob_links_by_digest ON blob_links (digest);
-- Partial, so that the per-repository lookups (which bind the kind) keep
-- using manifest_refs_by_target.
CREATE INDEX manifest_refs_by_blob ON manifest_refs (referenced) WHERE kind = 'blob';
CREATE INDEX manifests_by_digest ON manifests (digest);

-- Abandoned upload sessions, by age.
CREATE INDEX uploads_by_created ON uploads (created_at_ms);
