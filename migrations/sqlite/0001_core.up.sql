-- Core schema: projects, keys, leads with their user ids and tags, requests,
-- the lead timeline, and the full-text index over lead fields.

CREATE TABLE server_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE projects (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    settings        TEXT NOT NULL DEFAULT '{}',
    identity_secret TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id),
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX api_keys_project ON api_keys (project_id);

-- seq is the row's place in creation order: the default sort, the cursor, and
-- the rowid of the full-text index.
CREATE TABLE leads (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    project_id     TEXT NOT NULL,
    user_ids       TEXT NOT NULL DEFAULT '[]',
    fullname       TEXT NOT NULL DEFAULT '',
    lastname       TEXT NOT NULL DEFAULT '',
    email          TEXT NOT NULL DEFAULT '',
    email_lc       TEXT NOT NULL DEFAULT '',
    email_canon    TEXT NOT NULL DEFAULT '',
    phone          TEXT NOT NULL DEFAULT '',
    phone_norm     TEXT NOT NULL DEFAULT '',
    company        TEXT NOT NULL DEFAULT '',
    attributes     TEXT NOT NULL DEFAULT '{}',
    tags           TEXT NOT NULL DEFAULT '[]',
    status         TEXT NOT NULL DEFAULT 'active',
    merged_into    TEXT,
    requests_count INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL
);
CREATE INDEX leads_project_seq ON leads (project_id, status, seq);
CREATE INDEX leads_project_email ON leads (project_id, email_lc) WHERE email_lc <> '';
CREATE INDEX leads_project_canon ON leads (project_id, email_canon) WHERE email_canon <> '';
CREATE INDEX leads_project_phone ON leads (project_id, phone_norm) WHERE phone_norm <> '';
CREATE INDEX leads_project_updated ON leads (project_id, status, updated_at, seq);
CREATE INDEX leads_project_seen ON leads (project_id, status, last_seen_at, seq);

-- A user id belongs to exactly one lead of a project: this key says so.
CREATE TABLE lead_user_ids (
    project_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    lead_id    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
) WITHOUT ROWID;
CREATE INDEX lead_user_ids_lead ON lead_user_ids (lead_id);

CREATE TABLE lead_tags (
    project_id TEXT NOT NULL,
    tag        TEXT NOT NULL,
    lead_seq   INTEGER NOT NULL,
    PRIMARY KEY (project_id, tag, lead_seq)
) WITHOUT ROWID;
CREATE INDEX lead_tags_lead ON lead_tags (lead_seq);

CREATE TABLE requests (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL,
    project_id     TEXT NOT NULL,
    lead_id        TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    channel        TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL DEFAULT 'open',
    first_text     TEXT NOT NULL DEFAULT '',
    attributes     TEXT NOT NULL DEFAULT '{}',
    messages_count INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    closed_at      TEXT,
    UNIQUE (project_id, id)
);
CREATE INDEX requests_lead ON requests (lead_id, seq);

CREATE TABLE lead_events (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    lead_id    TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    type       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    changes    TEXT,
    data       TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX lead_events_lead ON lead_events (lead_id, seq);

-- Prefix indexes of 2 and 3 characters make short prefix queries cheap.
CREATE VIRTUAL TABLE leads_fts USING fts5 (
    fullname, lastname, email, phone, phone_norm, company,
    content = 'leads', content_rowid = 'seq',
    prefix = '2 3', tokenize = 'unicode61 remove_diacritics 2'
);

-- Only changes to indexed columns touch the index: counters and timestamps
-- change on every request and must not rewrite it.
CREATE TRIGGER leads_fts_insert AFTER INSERT ON leads BEGIN
    INSERT INTO leads_fts (rowid, fullname, lastname, email, phone, phone_norm, company)
    VALUES (new.seq, new.fullname, new.lastname, new.email, new.phone, new.phone_norm, new.company);
END;
CREATE TRIGGER leads_fts_delete AFTER DELETE ON leads BEGIN
    INSERT INTO leads_fts (leads_fts, rowid, fullname, lastname, email, phone, phone_norm, company)
    VALUES ('delete', old.seq, old.fullname, old.lastname, old.email, old.phone, old.phone_norm, old.company);
END;
CREATE TRIGGER leads_fts_update AFTER UPDATE OF fullname, lastname, email, phone, company ON leads BEGIN
    INSERT INTO leads_fts (leads_fts, rowid, fullname, lastname, email, phone, phone_norm, company)
    VALUES ('delete', old.seq, old.fullname, old.lastname, old.email, old.phone, old.phone_norm, old.company);
    INSERT INTO leads_fts (rowid, fullname, lastname, email, phone, phone_norm, company)
    VALUES (new.seq, new.fullname, new.lastname, new.email, new.phone, new.phone_norm, new.company);
END;
