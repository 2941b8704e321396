-- Mirrors ../0062_mail_dsn_wait.sql.
CREATE TABLE mail_dsn_wait (
    delivery_id  bigint PRIMARY KEY,
    due_at       double precision NOT NULL,
    expires_at   double precision
);
CREATE INDEX mail_dsn_wait_due ON mail_dsn_wait (due_at);
