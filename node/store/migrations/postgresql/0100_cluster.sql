-- Mirrors ../0100_cluster.sql (several nodes on one store), plus the event counter.
ALTER TABLE deliveries ADD COLUMN lease_owner text;
ALTER TABLE deliveries ADD COLUMN lease_until double precision;
ALTER TABLE deliveries ADD COLUMN claim integer NOT NULL DEFAULT 0;
CREATE INDEX deliveries_lease ON deliveries(lease_until) WHERE lease_owner IS NOT NULL;

ALTER TABLE outbox ADD COLUMN alert_ref text;
ALTER TABLE outbox ADD COLUMN owner text;
ALTER TABLE outbox ADD COLUMN lease_until double precision;
UPDATE outbox SET alert_ref = (SELECT e.alert_ref FROM events e WHERE e.seq = outbox.event_seq);
CREATE INDEX outbox_alert ON outbox(alert_ref, event_seq);

ALTER TABLE event_escalations ADD COLUMN owner text;
ALTER TABLE event_escalations ADD COLUMN lease_until double precision;

CREATE TABLE cluster_nodes (
    node_id     text PRIMARY KEY,
    instance    text NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    version     text NOT NULL,
    started_at  double precision NOT NULL,
    beat_at     double precision NOT NULL,
    state       text NOT NULL,
    info        text NOT NULL
);

CREATE TABLE cluster_locks (
    name   text PRIMARY KEY,
    owner  text NOT NULL,
    until  double precision NOT NULL
);

-- The last event number handed out (backend.Conn.next_seqs). Its row lock, taken by each transaction that
-- writes events and held until that transaction commits, makes every node's events numbered in commit
-- order: a collectevents reader that saw number N never later finds a smaller one. Never lowered (a
-- purged event's number is not handed out again).
CREATE TABLE event_counter (
    id        integer PRIMARY KEY CHECK (id = 1),
    last_seq  bigint NOT NULL
);
INSERT INTO event_counter (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;
