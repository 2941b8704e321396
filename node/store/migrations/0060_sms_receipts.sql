-- SMS channel (node/sms/tracker.py): receipt time-outs and message ids as the SMSC wrote them.
-- sms_message.state gains 'done' (every part acknowledged, no receipt asked for) and 'unconfirmed' (the
-- receipts awaited did not come before the receipt time-out); receipt_due_at is that time-out (NULL:
-- not awaited, or a row from before this migration, whose time-out starts at the next start-up).
ALTER TABLE sms_message ADD COLUMN receipt_due_at REAL;

-- The id exactly as the SMSC wrote it in submit_sm_resp (events report it; an operator searches the
-- gateway's logs for it); NULL when it equals the normalized message_id kept for matching receipts.
ALTER TABLE sms_part ADD COLUMN gateway_id TEXT;
