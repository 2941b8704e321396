-- A delivery in state 'sent' now holds its alert open until its channel reports its final event (the
-- receipt, DSN or their time-out; domain.DELIVERY_CLOSURE). Deliveries sent before this migration were
-- taken as done when they were sent: they keep that (a receipt that still comes is recorded all the same),
-- so that no alert completed before the upgrade reads running again.
UPDATE deliveries SET final_at = updated_at WHERE state = 'sent' AND final_at IS NULL;
