-- SMS channel (node/sms): what was submitted over SMPP, so that a restart resubmits only what was not
-- acknowledged by a submit_sm_resp, and receipts and replies still find their delivery.
-- Destinations are kept only as the store's blind index (contact details are encrypted at rest).

CREATE TABLE sms_message (
    delivery_id   INTEGER PRIMARY KEY,
    link          TEXT NOT NULL,
    dest_index    TEXT NOT NULL,
    sender        TEXT NOT NULL,          -- our source address as sent (not personal data)
    parts         INTEGER NOT NULL,
    ref           INTEGER,                -- concatenation reference used by every part
    state         TEXT NOT NULL,          -- submitting | sent | delivered | failed
    submitted_at  REAL NOT NULL,
    expires_at    REAL
);
CREATE INDEX sms_message_dest ON sms_message (dest_index, submitted_at);
CREATE INDEX sms_message_open ON sms_message (state) WHERE state IN ('submitting', 'sent');

CREATE TABLE sms_part (
    delivery_id   INTEGER NOT NULL REFERENCES sms_message (delivery_id) ON DELETE CASCADE,
    part_no       INTEGER NOT NULL,       -- 1-based
    message_id    TEXT NOT NULL,          -- SMSC id from submit_sm_resp, normalized (lower case, no leading zeros)
    state         TEXT NOT NULL,          -- acked | delivered | failed
    acked_at      REAL NOT NULL,
    receipt_stat  TEXT,
    receipt_err   TEXT,
    PRIMARY KEY (delivery_id, part_no)
);
CREATE INDEX sms_part_message_id ON sms_part (message_id);

-- The next concatenation reference per destination (3GPP TS 23.040 §9.2.3.24.1: a handset tells
-- messages apart by reference, so references run sequentially per destination).
CREATE TABLE sms_udh_ref (
    dest_index    TEXT PRIMARY KEY,
    next_ref      INTEGER NOT NULL
);
