-- Up Migration
-- Webhooks are acknowledged once stored and delivered from this table afterwards (the API's delivery queue, and a
-- sweeper in every API replica for rows the queue did not finish). last_attempt_at is when a delivery last failed to
-- reach Temporal, so the sweeper can back off a row that keeps failing instead of retrying it every sweep.
ALTER TABLE webhook_events ADD COLUMN last_attempt_at timestamptz;
-- The sweeper reads the rows waiting for delivery oldest first, and the backlog gauges count them: a partial index
-- stays as small as the backlog, however long the audit log grows.
CREATE INDEX webhook_events_undelivered_idx ON webhook_events (received_at, id) WHERE outcome = 'received';

-- Down Migration
DROP INDEX IF EXISTS webhook_events_undelivered_idx;
ALTER TABLE webhook_events DROP COLUMN IF EXISTS last_attempt_at;
