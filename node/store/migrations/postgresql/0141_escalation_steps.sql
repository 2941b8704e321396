-- Mirrors ../0141_escalation_steps.sql.
ALTER TABLE event_escalations ADD COLUMN step integer NOT NULL DEFAULT 1;
