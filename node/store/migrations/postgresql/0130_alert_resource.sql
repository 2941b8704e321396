-- Mirrors ../0130_alert_resource.sql.
CREATE TABLE alert_info (
    alert_ref  text PRIMARY KEY REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    category   text NOT NULL,
    app_data   bytea
);
CREATE INDEX alert_info_category ON alert_info(category);
INSERT INTO alert_info (alert_ref, category) SELECT alert_ref, 'user' FROM alerts;

CREATE TABLE alert_groups (
    alert_ref  text NOT NULL REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    group_id   text NOT NULL,
    PRIMARY KEY (alert_ref, group_id)
);
CREATE INDEX alert_groups_group ON alert_groups(group_id, alert_ref);

CREATE TABLE alert_reads (
    alert_ref  text NOT NULL REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    reader     text NOT NULL,
    read_at    double precision NOT NULL,
    PRIMARY KEY (alert_ref, reader)
);

CREATE INDEX alerts_created_ref ON alerts(created_at, alert_ref);
CREATE INDEX alerts_client_ref ON alerts(client_ref, created_at);
CREATE INDEX items_tag ON items(tag, alert_ref);
CREATE INDEX events_at ON events(at);
