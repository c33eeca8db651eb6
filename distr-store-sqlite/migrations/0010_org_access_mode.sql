-- A vendor's access mode (AccessStore::access_mode): 'open' until its first
-- entitlement, then 'entitled' until an explicit, recorded call opens it
-- again; deleting entitlements never changes it. The change record says who
-- switched it last ('user:<id>', 'cli', 'entitlement:<id>', 'migration').
ALTER TABLE orgs ADD COLUMN access_mode TEXT NOT NULL DEFAULT 'open'
    CHECK (access_mode IN ('open', 'entitled'));
ALTER TABLE orgs ADD COLUMN access_mode_changed_at_ms INTEGER;
ALTER TABLE orgs ADD COLUMN access_mode_changed_by TEXT;

-- Vendors that already have entitlements ran restricted: they stay so.
UPDATE orgs
SET access_mode = 'entitled',
    access_mode_changed_at_ms = (
        SELECT min(e.created_at_ms) FROM entitlements e WHERE e.org_id = orgs.id
    ),
    access_mode_changed_by = 'migration'
WHERE EXISTS (SELECT 1 FROM entitlements e WHERE e.org_id = orgs.id);
