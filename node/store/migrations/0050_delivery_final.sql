-- When a delivery's channel reported its final event (ChannelEvent.final): a delivery in a state that is
-- open until then (domain.DELIVERY_CLOSURE, e.g. answered while the call is still up) holds its alert
-- open while this is NULL. Cleared when the delivery is queued again for another attempt.
ALTER TABLE deliveries ADD COLUMN final_at REAL;

-- deliveries that already had their final event keep it
UPDATE deliveries SET final_at = (SELECT MAX(e.at) FROM events e WHERE e.delivery_id = deliveries.id AND e.final = 1)
WHERE EXISTS (SELECT 1 FROM events e WHERE e.delivery_id = deliveries.id AND e.final = 1);
