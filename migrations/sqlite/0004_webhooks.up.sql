-- Webhook hub: outbound endpoints with their subscriptions and the log of
-- every delivery attempt; inbound channels with the delivery ids they have
-- seen. In step with postgres/0004_webhooks.up.sql.

-- An outbound endpoint. secret signs deliveries; previous_secret keeps signing
-- beside it until previous_secret_until (24 hours after a rotation).
-- failing_since is the first failed attempt since the last success: an
-- endpoint failing for the configured time without a success is disabled.
CREATE TABLE webhooks (
    seq                   INTEGER PRIMARY KEY,
    id                    TEXT NOT NULL UNIQUE,
    project_id            TEXT NOT NULL,
    url                   TEXT NOT NULL,
    events                TEXT NOT NULL DEFAULT '[]',
    description           TEXT NOT NULL DEFAULT '',
    enabled               INTEGER NOT NULL DEFAULT 1,
    disabled_reason       TEXT NOT NULL DEFAULT '',
    secret                TEXT NOT NULL,
    previous_secret       TEXT NOT NULL DEFAULT '',
    previous_secret_until TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    last_success_at       TEXT,
    failing_since         TEXT
);
CREATE INDEX webhooks_project ON webhooks (project_id, seq);

-- One row per endpoint and subscribed event type ('*' for all): the fan-out
-- on the ingest path is one lookup of this key.
CREATE TABLE webhook_subscriptions (
    project_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    PRIMARY KEY (project_id, event_type, webhook_id)
) WITHOUT ROWID;
CREATE INDEX webhook_subscriptions_webhook ON webhook_subscriptions (webhook_id);

-- Every delivery attempt, and the pending ones a test or a manual retry
-- queued. Old rows are pruned in seq order.
CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    project_id      TEXT NOT NULL,
    webhook_id      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 1,
    status          TEXT NOT NULL,
    response_status INTEGER NOT NULL DEFAULT 0,
    response_body   TEXT NOT NULL DEFAULT '',
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    triggered_by    TEXT NOT NULL DEFAULT 'scheduled',
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, event_id, seq) WHERE status = 'pending';

-- An inbound integration (tiledesk, chatwoot, generic) with its own secret.
CREATE TABLE channels (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    project_id     TEXT NOT NULL,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    secret         TEXT NOT NULL,
    allow_unsigned INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);
CREATE INDEX channels_project ON channels (project_id, seq);

-- The sender's delivery ids a channel has applied, written in the same
-- transaction as the delivery's effects: the unique key makes a replay a
-- no-op. Old rows are pruned in seq order.
CREATE TABLE inbound_deliveries (
    seq         INTEGER PRIMARY KEY,
    channel_id  TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (channel_id, delivery_id)
);
