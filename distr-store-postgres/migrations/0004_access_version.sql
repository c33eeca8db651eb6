-- A version number that moves with every change to the records access
-- decisions derive from, so servers can cache those decisions and revalidate
-- with a single read (AccessStore::access_version).
CREATE TABLE access_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);

INSERT INTO access_version (id, version) VALUES (1, 0);

CREATE FUNCTION bump_access_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER orgs_bump_access_version AFTER INSERT OR UPDATE OR DELETE ON orgs
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_version();

CREATE TRIGGER customers_bump_access_version AFTER INSERT OR UPDATE OR DELETE ON customers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_version();

CREATE TRIGGER artifacts_bump_access_version AFTER INSERT OR UPDATE OR DELETE ON artifacts
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_version();

CREATE TRIGGER entitlements_bump_access_version AFTER INSERT OR UPDATE OR DELETE ON entitlements
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_version();

CREATE TRIGGER entitlement_items_bump_access_version AFTER INSERT OR UPDATE OR DELETE ON entitlement_items
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_version();
