-- Mail channel (mirrors ../0020_mail.sql).
CREATE TABLE mail_inbound_seen (
    message_id text PRIMARY KEY,
    received_at double precision NOT NULL
);
CREATE INDEX mail_inbound_seen_at ON mail_inbound_seen (received_at);
