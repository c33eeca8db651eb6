-- E-mail addresses become unique per customer (and among the vendor's own
-- users) instead of per vendor, so that one customer's admin can neither
-- find out which addresses another customer uses nor take an address
-- another customer needs. The nil UUID stands for "the vendor" (its own
-- users have no customer).
ALTER TABLE users DROP CONSTRAINT users_org_id_email_key;

CREATE UNIQUE INDEX users_email_per_customer ON users
    (org_id, coalesce(customer_id, '00000000-0000-0000-0000-000000000000'::uuid), email);
