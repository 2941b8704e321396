-- The alert resource (alert-resource.txt) and the operator console: what the sender gave with an alert, the
-- contact sets it went to, and which API keys have read it. Rows go with their alert (ON DELETE CASCADE).

-- category and appData as given at sendalert or event time; app_data is encrypted (it is the sender's data).
CREATE TABLE alert_info (
    alert_ref  TEXT PRIMARY KEY REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    category   TEXT NOT NULL,            -- user | admin
    app_data   BLOB                      -- encrypted JSON string; NULL when none was given
);
CREATE INDEX alert_info_category ON alert_info(category);

-- alerts accepted before this migration had neither field: they are user alerts without appData
INSERT INTO alert_info (alert_ref, category) SELECT alert_ref, 'user' FROM alerts;

-- The contact sets an alert's items named (the resource's groups relation; event routes are read from
-- event_storms). The encrypted request cannot be read here, so alerts accepted before it name none.
CREATE TABLE alert_groups (
    alert_ref  TEXT NOT NULL REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    group_id   TEXT NOT NULL,            -- set:<contact set name>
    PRIMARY KEY (alert_ref, group_id)
);
CREATE INDEX alert_groups_group ON alert_groups(group_id, alert_ref);

-- read, per API key: the key's fingerprint (api/auth.py, never the key) and when it marked the alert read.
CREATE TABLE alert_reads (
    alert_ref  TEXT NOT NULL REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    reader     TEXT NOT NULL,
    read_at    REAL NOT NULL,
    PRIMARY KEY (alert_ref, reader)
);

-- the collection pages newest first by (created_at, alert_ref) and filters by clientRef and tag
CREATE INDEX alerts_created_ref ON alerts(created_at, alert_ref);
CREATE INDEX alerts_client_ref ON alerts(client_ref, created_at);
CREATE INDEX items_tag ON items(tag, alert_ref);
-- the activity chart counts events by time
CREATE INDEX events_at ON events(at);
