-- Up Migration
-- The request a refund answers ('admin:<Idempotency-Key>' for an operator's refund, the refund ID for one the order
-- workflow made on its own), so a request repeated after the order workflow closed finds the refund it already got.
ALTER TABLE refunds ADD COLUMN request_id text;
CREATE INDEX refunds_order_request_idx ON refunds (order_id, request_id) WHERE request_id IS NOT NULL;

-- Down Migration
DROP INDEX IF EXISTS refunds_order_request_idx;
ALTER TABLE refunds DROP COLUMN IF EXISTS request_id;
