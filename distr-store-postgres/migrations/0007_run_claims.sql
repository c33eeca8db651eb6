-- Claims of scheduled job runs (RunClaims): the first insert of a
-- (job, scheduled_at_ms) pair wins; replicas sharing the database run each
-- scheduled job once.
CREATE TABLE run_claims (
    job TEXT NOT NULL,
    scheduled_at_ms BIGINT NOT NULL,
    holder TEXT NOT NULL,
    claimed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (job, scheduled_at_ms)
);
