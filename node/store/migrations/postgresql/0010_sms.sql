-- SMS channel (mirrors ../0010_sms.sql).

CREATE TABLE sms_message (
    delivery_id   bigint PRIMARY KEY,
    link          text NOT NULL,
    dest_index    text NOT NULL,
    sender        text NOT NULL,
    parts         integer NOT NULL,
    ref           integer,
    state         text NOT NULL,
    submitted_at  double precision NOT NULL,
    expires_at    double precision
);
CREATE INDEX sms_message_dest ON sms_message (dest_index, submitted_at);
CREATE INDEX sms_message_open ON sms_message (state) WHERE state IN ('submitting', 'sent');

CREATE TABLE sms_part (
    delivery_id   bigint NOT NULL REFERENCES sms_message (delivery_id) ON DELETE CASCADE,
    part_no       integer NOT NULL,
    message_id    text NOT NULL,
    state         text NOT NULL,
    acked_at      double precision NOT NULL,
    receipt_stat  text,
    receipt_err   text,
    PRIMARY KEY (delivery_id, part_no)
);
CREATE INDEX sms_part_message_id ON sms_part (message_id);

CREATE TABLE sms_udh_ref (
    dest_index    text PRIMARY KEY,
    next_ref      integer NOT NULL
);
