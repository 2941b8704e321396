-- Mirrors ../0060_sms_receipts.sql.
ALTER TABLE sms_message ADD COLUMN receipt_due_at double precision;
ALTER TABLE sms_part ADD COLUMN gateway_id text;
