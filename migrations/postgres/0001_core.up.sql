-- Core schema, in step with sqlite/0001_core.up.sql: projects, keys, leads with
-- their user ids and tags, requests, the lead timeline, and text search.

CREATE TABLE server_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE projects (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    settings        JSONB NOT NULL DEFAULT '{}',
    identity_secret TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id),
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX api_keys_project ON api_keys (project_id);

CREATE TABLE leads (
    seq            BIGSERIAL PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    project_id     TEXT NOT NULL,
    user_ids       JSONB NOT NULL DEFAULT '[]',
    fullname       TEXT NOT NULL DEFAULT '',
    lastname       TEXT NOT NULL DEFAULT '',
    email          TEXT NOT NULL DEFAULT '',
    email_lc       TEXT NOT NULL DEFAULT '',
    email_canon    TEXT NOT NULL DEFAULT '',
    phone          TEXT NOT NULL DEFAULT '',
    phone_norm     TEXT NOT NULL DEFAULT '',
    company        TEXT NOT NULL DEFAULT '',
    attributes     JSONB NOT NULL DEFAULT '{}',
    tags           JSONB NOT NULL DEFAULT '[]',
    status         TEXT NOT NULL DEFAULT 'active',
    merged_into    TEXT,
    requests_count BIGINT NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    last_seen_at   TIMESTAMPTZ NOT NULL,
    -- The words of the searchable fields, for prefix queries.
    search         TSVECTOR GENERATED ALWAYS AS (
        to_tsvector('simple',
            regexp_replace(fullname || ' ' || lastname || ' ' || email || ' ' || phone || ' ' ||
                           phone_norm || ' ' || company, '[^[:alnum:]]+', ' ', 'g'))
    ) STORED
);
CREATE INDEX leads_project_seq ON leads (project_id, status, seq);
CREATE INDEX leads_project_email ON leads (project_id, email_lc) WHERE email_lc <> '';
CREATE INDEX leads_project_canon ON leads (project_id, email_canon) WHERE email_canon <> '';
CREATE INDEX leads_project_phone ON leads (project_id, phone_norm) WHERE phone_norm <> '';
CREATE INDEX leads_project_updated ON leads (project_id, status, updated_at, seq);
CREATE INDEX leads_project_seen ON leads (project_id, status, last_seen_at, seq);
CREATE INDEX leads_search ON leads USING GIN (search);

CREATE TABLE lead_user_ids (
    project_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    lead_id    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX lead_user_ids_lead ON lead_user_ids (lead_id);

CREATE TABLE lead_tags (
    project_id TEXT NOT NULL,
    tag        TEXT NOT NULL,
    lead_seq   BIGINT NOT NULL,
    PRIMARY KEY (project_id, tag, lead_seq)
);
CREATE INDEX lead_tags_lead ON lead_tags (lead_seq);

CREATE TABLE requests (
    seq            BIGSERIAL PRIMARY KEY,
    id             TEXT NOT NULL,
    project_id     TEXT NOT NULL,
    lead_id        TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    channel        TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL DEFAULT 'open',
    first_text     TEXT NOT NULL DEFAULT '',
    attributes     JSONB NOT NULL DEFAULT '{}',
    messages_count BIGINT NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    closed_at      TIMESTAMPTZ,
    UNIQUE (project_id, id)
);
CREATE INDEX requests_lead ON requests (lead_id, seq);

CREATE TABLE lead_events (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    lead_id    TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    type       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    changes    JSONB,
    data       TEXT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX lead_events_lead ON lead_events (lead_id, seq);
