-- Durable job queue (package core/jobs). Jobs are inserted in the same
-- transaction as the lead event that caused them and worked in batches by
-- every replica; claims use FOR UPDATE SKIP LOCKED.
--
-- due_at is the earliest time a worker may claim the row: the scheduled time
-- for waiting jobs, the lease expiry for running ones (so a job held by a
-- replica that died becomes claimable again on its own), and NULL once the
-- job is finished. The claim indexes are partial on due_at IS NOT NULL, so
-- finished rows leave them and the claim query never reads them.
CREATE TABLE jobs (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT        NOT NULL,
    project_id  TEXT        NOT NULL DEFAULT '',
    target      TEXT        NOT NULL DEFAULT '',
    event_id    TEXT        NOT NULL DEFAULT '',
    -- TEXT, not JSONB: the queue never looks inside, and the handler gets
    -- back exactly the bytes that were enqueued without a parse on insert.
    payload     TEXT,
    state       TEXT        NOT NULL DEFAULT 'available'
                CHECK (state IN ('available', 'running', 'retryable', 'completed', 'discarded')),
    attempt     INTEGER     NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    run_at      TIMESTAMPTZ NOT NULL,
    due_at      TIMESTAMPTZ,
    -- Random per claim; completions match on it, so a worker whose lease
    -- expired cannot overwrite the outcome of the worker that took over.
    lease_token BIGINT      NOT NULL DEFAULT 0,
    finished_at TIMESTAMPTZ,
    last_error  TEXT
) WITH (
    -- Every row is inserted, updated and deleted within seconds: vacuum
    -- early so dead tuples do not pile up in the claim indexes.
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000
);

-- Claim: the oldest due jobs of one kind.
CREATE INDEX jobs_due ON jobs (kind, due_at) WHERE due_at IS NOT NULL;

-- Claim for kinds batched per target (webhook endpoints, event sinks).
CREATE INDEX jobs_due_target ON jobs (kind, target, due_at) WHERE due_at IS NOT NULL;

-- Cleaner: finished rows past their retention.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
