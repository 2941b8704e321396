-- Core job tables. Contact details (addresses, lookups, request bodies, event details) are stored
-- encrypted (node/store/crypto.py); *_ix columns are keyed-hash blind indexes for look-ups.

CREATE TABLE alerts (
    alert_ref          TEXT PRIMARY KEY,
    client_ref         TEXT NOT NULL,
    unique_id          TEXT UNIQUE,
    created_at         REAL NOT NULL,
    publish_at         REAL,            -- NULL: not published yet (waits for its schedule_url)
    status             TEXT NOT NULL,   -- scheduled | running | on_hold | cancelled (completed is derived)
    expires_at         REAL,            -- NULL: never
    end_at             REAL,            -- hard end: nothing is sent after it
    quiet              TEXT,            -- JSON {cease, resume, tz} or NULL
    callback_url       TEXT,
    notification       INTEGER NOT NULL DEFAULT 1,
    notification_type  TEXT NOT NULL DEFAULT 'all',
    link_ref           TEXT,
    email_subject_ref  TEXT,
    schedule_id        TEXT UNIQUE,
    request            BLOB NOT NULL,   -- encrypted JSON of the request (apiKey removed)
    response           TEXT NOT NULL    -- JSON answered to the request
);
CREATE INDEX alerts_created ON alerts(created_at);
CREATE INDEX alerts_link ON alerts(link_ref);

CREATE TABLE items (
    id           INTEGER PRIMARY KEY,
    alert_ref    TEXT NOT NULL REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    alert_type   TEXT NOT NULL,
    tag          TEXT NOT NULL,
    params       BLOB NOT NULL,         -- encrypted JSON: the item's fields
    content      BLOB,                  -- encrypted decoded content
    requested    INTEGER NOT NULL,
    accepted     INTEGER NOT NULL,
    UNIQUE (alert_ref, idx)
);

CREATE TABLE deliveries (
    id             INTEGER PRIMARY KEY,
    alert_ref      TEXT NOT NULL REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    item_id        INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    alert_type     TEXT NOT NULL,
    contact_id     TEXT,
    address        BLOB NOT NULL,
    address_ix     TEXT NOT NULL,
    lookups        BLOB,
    token          TEXT NOT NULL UNIQUE,
    state          TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    due_at         REAL NOT NULL,
    updated_at     REAL NOT NULL,
    responded_via  TEXT NOT NULL DEFAULT ''   -- ',sms,shortlink,' : how the recipient responded
);
CREATE INDEX deliveries_due ON deliveries(alert_type, state, due_at);
CREATE INDEX deliveries_alert ON deliveries(alert_ref);
CREATE INDEX deliveries_address ON deliveries(address_ix, alert_type);

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_ref    TEXT NOT NULL,
    delivery_id  INTEGER,
    kind         TEXT NOT NULL,
    state        TEXT,
    at           REAL NOT NULL,
    final        INTEGER NOT NULL DEFAULT 0,
    notify       INTEGER NOT NULL DEFAULT 1,
    data         BLOB                          -- encrypted JSON {detail}
);
CREATE INDEX events_alert ON events(alert_ref, seq);
CREATE INDEX events_delivery ON events(delivery_id);

CREATE TABLE outbox (
    event_seq   INTEGER PRIMARY KEY REFERENCES events(seq) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     REAL NOT NULL,
    last_error  TEXT,
    dead        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox(dead, next_at);

CREATE TABLE stored (
    uuid        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    data        BLOB NOT NULL,                 -- encrypted JSON
    created_at  REAL NOT NULL,
    expires_at  REAL
);

CREATE TABLE links (
    link_ref       TEXT PRIMARY KEY,
    first_alert    TEXT NOT NULL,
    contact_group  BLOB NOT NULL,              -- encrypted JSON of the first alert's contact-group
    created_at     REAL NOT NULL,
    expires_at     REAL
);

CREATE TABLE inbound (
    id        INTEGER PRIMARY KEY,
    channel   TEXT NOT NULL,
    at        REAL NOT NULL,
    data      BLOB NOT NULL                    -- encrypted JSON {sender, recipient, text, detail}
);
