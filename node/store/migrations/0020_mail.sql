-- Mail channel: Message-IDs of inbound mail already processed, so a message an MTA sends twice
-- (our 250 lost in transit, RFC 5321 §4.1.1.4 / §6.1) is recorded once.
CREATE TABLE mail_inbound_seen (
    message_id TEXT PRIMARY KEY,
    received_at REAL NOT NULL
);
CREATE INDEX mail_inbound_seen_at ON mail_inbound_seen (received_at);
