-- Mirrors ../0070_mail_sent.sql.
CREATE TABLE mail_sent (
    delivery_id  bigint PRIMARY KEY,
    rcpt_index   text NOT NULL,
    sent_at      double precision NOT NULL,
    expires_at   double precision
);
CREATE INDEX mail_sent_expires ON mail_sent (expires_at) WHERE expires_at IS NOT NULL;
