-- Up Migration

-- What the dead-letter queue needs to redeliver a webhook event without its (no longer valid) signature:
-- payment_event: the payment event derived from the verified payload when it was stored, exactly what the first
--   delivery signalled (NULL for events that do not move an order);
-- claimed_until: a delivery in flight holds the row until then, so two deliveries of one event (an operator's
--   retry and the gateway's redelivery, or two retries) never signal twice; a crashed holder's claim lapses.
ALTER TABLE webhook_events ADD COLUMN payment_event jsonb;
ALTER TABLE webhook_events ADD COLUMN claimed_until timestamptz;

-- Down Migration
ALTER TABLE webhook_events DROP COLUMN claimed_until;
ALTER TABLE webhook_events DROP COLUMN payment_event;
