-- Several nodes on one store (README "Several nodes"; PostgreSQL, mirrored here so that one node on SQLite
-- runs the same code). A delivery a node works on is leased to it (lease_owner until lease_until, renewed
-- while the node holds it); claim counts the claims of the delivery, and a node's reports about a claim
-- that is no longer the current one change nothing (fencing).
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until REAL;
ALTER TABLE deliveries ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deliveries_lease ON deliveries(lease_until) WHERE lease_owner IS NOT NULL;

-- Callbacks are posted per alert, in order, by one node at a time (its lease on the alert's rows).
ALTER TABLE outbox ADD COLUMN alert_ref TEXT;
ALTER TABLE outbox ADD COLUMN owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until REAL;
UPDATE outbox SET alert_ref = (SELECT e.alert_ref FROM events e WHERE e.seq = outbox.event_seq);
CREATE INDEX outbox_alert ON outbox(alert_ref, event_seq);

-- A due escalation is fired by the node that claimed it.
ALTER TABLE event_escalations ADD COLUMN owner TEXT;
ALTER TABLE event_escalations ADD COLUMN lease_until REAL;

-- Each node's heartbeat: what /readyz, /metrics and the status page show of the cluster.
CREATE TABLE cluster_nodes (
    node_id     TEXT PRIMARY KEY,
    instance    TEXT NOT NULL,        -- a random id per start (two processes claiming one node_id are told apart)
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    version     TEXT NOT NULL,
    started_at  REAL NOT NULL,
    beat_at     REAL NOT NULL,
    state       TEXT NOT NULL,        -- running | stopped
    info        TEXT NOT NULL         -- JSON: links, workers, the work it holds
);

-- Work that one node at a time does (housekeeping, a dedup key's storm, the per-contact cap): a named lease.
CREATE TABLE cluster_locks (
    name   TEXT PRIMARY KEY,
    owner  TEXT NOT NULL,
    until  REAL NOT NULL
);
