-- Events routes with several escalation steps (node/store/escalations.py): the step a row of
-- event_escalations sends (1 for the rows of a single escalation). The next step's row is written when
-- this one is done, in the same transaction.
ALTER TABLE event_escalations ADD COLUMN step INTEGER NOT NULL DEFAULT 1;
