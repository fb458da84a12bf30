-- Durable job queue (package core/jobs). Jobs are inserted in the same
-- transaction as the lead event that caused them and worked in batches.
--
-- Times are unix microseconds (UTC) in INTEGER columns: compact, compared
-- as plain integers by the claim query, and exact to the microsecond.
--
-- due_at is the earliest time a worker may claim the row: the scheduled time
-- for waiting jobs, the lease expiry for running ones (so a job held by a
-- worker that died becomes claimable again on its own), and NULL once the
-- job is finished. The claim indexes are partial on due_at IS NOT NULL, so
-- finished rows leave them and the claim query never reads them.
CREATE TABLE jobs (
    -- AUTOINCREMENT: ids are never reused after completed rows are deleted,
    -- so an id kept elsewhere (a webhook delivery log) names one job forever.
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    project_id  TEXT    NOT NULL DEFAULT '',
    target      TEXT    NOT NULL DEFAULT '',
    event_id    TEXT    NOT NULL DEFAULT '',
    payload     TEXT,
    state       TEXT    NOT NULL DEFAULT 'available'
                CHECK (state IN ('available', 'running', 'retryable', 'completed', 'discarded')),
    attempt     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    run_at      INTEGER NOT NULL,
    due_at      INTEGER,
    -- Random per claim; completions match on it, so a worker whose lease
    -- expired cannot overwrite the outcome of the worker that took over.
    lease_token INTEGER NOT NULL DEFAULT 0,
    finished_at INTEGER,
    last_error  TEXT
);

-- Claim: the oldest due jobs of one kind.
CREATE INDEX jobs_due ON jobs (kind, due_at) WHERE due_at IS NOT NULL;

-- Claim for kinds batched per target (webhook endpoints, event sinks).
CREATE INDEX jobs_due_target ON jobs (kind, target, due_at) WHERE due_at IS NOT NULL;

-- Cleaner: finished rows past their retention.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
