-- Mirrors ../0061_sent_final.sql.
UPDATE deliveries SET final_at = updated_at WHERE state = 'sent' AND final_at IS NULL;
