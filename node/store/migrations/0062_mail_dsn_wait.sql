-- Mail channel (node/mail/records.py): e-mails sent with a success DSN asked for (RFC 3461 NOTIFY=SUCCESS)
-- whose delivery status notification has not come yet. At due_at (mail.dsn_timeout_s after the smarthost
-- took the message) the delivery ends 'unconfirmed'; a DSN that comes first removes the row. A row whose
-- alert's lifetime (expires_at) ends first goes without a report: the store's expiry is the final event.
CREATE TABLE mail_dsn_wait (
    delivery_id  INTEGER PRIMARY KEY,
    due_at       REAL NOT NULL,
    expires_at   REAL
);
CREATE INDEX mail_dsn_wait_due ON mail_dsn_wait (due_at);
