-- Mirrors ../0050_delivery_final.sql: when a delivery's channel reported its final event.
ALTER TABLE deliveries ADD COLUMN final_at double precision;
