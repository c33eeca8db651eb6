-- A version number that moves with every change to the records access
-- decisions derive from, so servers can cache those decisions and revalidate
-- with a single read (AccessStore::access_version).
CREATE TABLE access_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;

INSERT INTO access_version (id, version) VALUES (1, 0);

CREATE TRIGGER orgs_insert_bumps_access_version AFTER INSERT ON orgs
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER orgs_update_bumps_access_version AFTER UPDATE ON orgs
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER orgs_delete_bumps_access_version AFTER DELETE ON orgs
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER customers_insert_bumps_access_version AFTER INSERT ON customers
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER customers_update_bumps_access_version AFTER UPDATE ON customers
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER customers_delete_bumps_access_version AFTER DELETE ON customers
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER artifacts_insert_bumps_access_version AFTER INSERT ON artifacts
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER artifacts_update_bumps_access_version AFTER UPDATE ON artifacts
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER artifacts_delete_bumps_access_version AFTER DELETE ON artifacts
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER entitlements_insert_bumps_access_version AFTER INSERT ON entitlements
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER entitlements_update_bumps_access_version AFTER UPDATE ON entitlements
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER entitlements_delete_bumps_access_version AFTER DELETE ON entitlements
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER entitlement_items_insert_bumps_access_version AFTER INSERT ON entitlement_items
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER entitlement_items_update_bumps_access_version AFTER UPDATE ON entitlement_items
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER entitlement_items_delete_bumps_access_version AFTER DELETE ON entitlement_items
BEGIN
    UPDATE access_version SET version = version + 1 WHERE id = 1;
END;
