-- Duplicate suggestions, merges with what it takes to undo them, and verified
-- user ids (identify). In step with sqlite/0003_merges.up.sql.

-- A user id proven by the project's identity secret. A lead holding one is
-- never merged automatically into another identity.
ALTER TABLE lead_user_ids ADD COLUMN verified BOOLEAN NOT NULL DEFAULT FALSE;

-- A suggestion that two leads are one person. The pair is stored ordered
-- (lead_a < lead_b in byte order, done by the store), so it is recorded once
-- whichever lead a detector examined; a dismissed pair stays here, which is
-- what keeps it from being suggested again.
CREATE TABLE duplicates (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    project_id  TEXT NOT NULL,
    lead_a      TEXT NOT NULL,
    lead_b      TEXT NOT NULL,
    examined_id TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    score       DOUBLE PRECISION NOT NULL DEFAULT 0,
    detector    TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open',
    closed_by   TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX duplicates_pair ON duplicates (project_id, lead_a, lead_b);
CREATE INDEX duplicates_lead_b ON duplicates (project_id, lead_b);
CREATE INDEX duplicates_status ON duplicates (project_id, status, seq);

-- One merge of leads into a survivor (lead_id). state holds what undoing it
-- needs: each merged lead's former row, user ids and request ids, and what
-- the merge filled on the survivor.
CREATE TABLE merges (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    lead_id    TEXT NOT NULL,
    merged_ids JSONB NOT NULL DEFAULT '[]',
    state      JSONB NOT NULL DEFAULT '{}',
    actor      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    undone_at  TIMESTAMPTZ,
    undone_by  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX merges_project ON merges (project_id, seq);

-- Every lead a merge touched (the survivor and the merged ones): an undo is
-- refused while a later merge that touched one of them stands.
CREATE TABLE merge_leads (
    project_id TEXT NOT NULL,
    lead_id    TEXT NOT NULL,
    merge_seq  BIGINT NOT NULL,
    PRIMARY KEY (project_id, lead_id, merge_seq)
);
