-- Mail channel (node/mail/records.py): the recipient of each message the smarthost accepted, kept as the
-- store's blind index of its mailbox key (contact details are encrypted at rest), so that a reply from
-- someone else (a forwarded alert) is told apart from the recipient's own. Rows go when their alert's
-- lifetime ends (expires_at), as the alert's deliveries do.
CREATE TABLE mail_sent (
    delivery_id  INTEGER PRIMARY KEY,
    rcpt_index   TEXT NOT NULL,
    sent_at      REAL NOT NULL,
    expires_at   REAL
);
CREATE INDEX mail_sent_expires ON mail_sent (expires_at) WHERE expires_at IS NOT NULL;
