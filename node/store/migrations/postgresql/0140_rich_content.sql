-- Mirrors ../0140_rich_content.sql.
CREATE TABLE alert_images (
    alert_ref   text NOT NULL REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    item_idx    integer NOT NULL,
    mime        text NOT NULL,
    size        bigint NOT NULL,
    sha256      text NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (alert_ref, item_idx)
);

CREATE TABLE delivery_views (
    delivery_id   bigint PRIMARY KEY REFERENCES deliveries(id) ON DELETE CASCADE,
    opened_at     double precision,
    opens         integer NOT NULL DEFAULT 0,
    previewed_at  double precision,
    previews      integer NOT NULL DEFAULT 0
);
