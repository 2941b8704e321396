-- Events (POST /api/events): storm control, originators, per-contact caps, escalations.

-- One row per alert opened for a dedup key. alert_ref is NULL between "begun" and "accepted": a crash in
-- between is repaired by the next event with the key (it resends with the same uniqueId, which the intake
-- answers with the first answer instead of creating a second alert).
CREATE TABLE event_storms (
    storm_id    TEXT PRIMARY KEY,          -- also the sendalert uniqueId
    dedup_ix    TEXT NOT NULL,             -- keyed hash of the dedup key (the key may hold event data)
    route       TEXT NOT NULL,
    alert_ref   TEXT,
    opened_at   REAL NOT NULL,
    last_at     REAL NOT NULL,
    coalesced   INTEGER NOT NULL DEFAULT 0 -- events folded into the alert after the first
);
CREATE INDEX event_storms_key ON event_storms(dedup_ix, opened_at);
CREATE INDEX event_storms_alert ON event_storms(alert_ref);

-- Who triggered an alert: a fingerprint of the API key each event came with (never the key).
CREATE TABLE event_originators (
    alert_ref   TEXT NOT NULL,
    originator  TEXT NOT NULL,
    first_at    REAL NOT NULL,
    events      INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (alert_ref, originator)
);

-- Each time a contact was alerted through an event, for the per-contact cap.
CREATE TABLE event_contacted (
    contact     TEXT NOT NULL,             -- <contact-group>/<contact id>
    at          REAL NOT NULL,
    alert_ref   TEXT NOT NULL
);
CREATE INDEX event_contacted_contact ON event_contacted(contact, at);

-- Audit of contacts the cap kept from being alerted.
CREATE TABLE event_suppressed (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    contact     TEXT NOT NULL,
    route       TEXT NOT NULL,
    event       TEXT NOT NULL,             -- the event key (not its message)
    alert_ref   TEXT,                      -- the alert the others got, NULL if nobody was alerted
    reason      TEXT NOT NULL
);
CREATE INDEX event_suppressed_at ON event_suppressed(at);

-- Linked follow-ups due later; request is the encrypted sendalert body.
CREATE TABLE event_escalations (
    id          INTEGER PRIMARY KEY,
    alert_ref   TEXT NOT NULL,
    due_at      REAL NOT NULL,
    request     BLOB NOT NULL,
    done_at     REAL,
    result      TEXT                       -- the follow-up's alertRef or why there is none
);
CREATE INDEX event_escalations_due ON event_escalations(done_at, due_at);
