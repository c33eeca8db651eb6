-- The customer index of `pull_events` keyed by (org, customer) only, and
-- only for pulls with a customer. Keyed by (org, customer, artifact), every
-- (customer, artifact) pair was a place of its own where inserts land: with
-- 1 000 customers x 10 artifacts a batch of events wrote about as many index
-- pages as it had events. Keyed by customer, the places are ten times
-- fewer; a customer's pulls (`customer_pulls`, the pull log filtered by
-- customer) are still one range of the index, and the customers of an
-- artifact are read through `pull_events_by_tag`.
DROP INDEX pull_events_by_customer;
CREATE INDEX pull_events_by_customer ON pull_events (org_id, customer_id)
    WHERE customer_id IS NOT NULL;
