-- Rich alert content and opens (node/store/rich.py).

-- The image of an alert item (image_url), fetched once when the alert was accepted and kept with it,
-- encrypted like the item's content; it goes with its alert.
CREATE TABLE alert_images (
    alert_ref   TEXT NOT NULL REFERENCES alerts(alert_ref) ON DELETE CASCADE,
    item_idx    INTEGER NOT NULL,
    mime        TEXT NOT NULL,             -- image/png | image/jpeg | image/gif | image/webp (by magic bytes)
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    data        BLOB NOT NULL,             -- encrypted image bytes
    PRIMARY KEY (alert_ref, item_idx)
);

-- Who looked at a delivery: the e-mail's tracking image or the SMS page fetched by a person (opened) or by a
-- proxy or scanner (previewed). One row per delivery; the first time of each is what counts.
CREATE TABLE delivery_views (
    delivery_id   INTEGER PRIMARY KEY REFERENCES deliveries(id) ON DELETE CASCADE,
    opened_at     REAL,
    opens         INTEGER NOT NULL DEFAULT 0,
    previewed_at  REAL,
    previews      INTEGER NOT NULL DEFAULT 0
);
