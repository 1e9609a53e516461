-- Up Migration

-- The payment a refund is made against: the order's own capture, or a second (duplicate) capture of a PAID order.
-- refundPayment sums the non-failed refunds per payment, under the order's row lock, before any gateway call.
ALTER TABLE refunds ADD COLUMN payment_reference text;
-- Set just before the first gateway call: an unset value proves the gateway never saw the refund.
ALTER TABLE refunds ADD COLUMN sent_to_gateway_at timestamptz;
-- When the gateway first answered 'pending' (activity clock); REFUND_PENDING_LIMIT counts from here.
ALTER TABLE refunds ADD COLUMN pending_since timestamptz;
CREATE INDEX refunds_order_payment_idx ON refunds (order_id, payment_reference);

-- gateway_refund_id holds the gateway's own reference, the one its settlement data shows: Stripe's refund ID
-- (re_…), Khalti's transaction_id of the refunded payment (Khalti gives refunds no ID of their own), and for eSewa
-- the operator's reference once confirmed (none while a manual refund waits). Earlier rows held synthetic values.
UPDATE refunds r SET gateway_refund_id = split_part(r.gateway_refund_id, ':', 1)
  FROM orders o
 WHERE o.order_id = r.order_id AND o.gateway = 'khalti' AND r.gateway_refund_id LIKE '%:' || r.refund_id;
UPDATE refunds r SET gateway_refund_id = r.manual_reference
  FROM orders o
 WHERE o.order_id = r.order_id AND o.gateway = 'esewa' AND r.gateway_refund_id LIKE 'manual-%';
-- Existing refunds count against the order's own payment.
UPDATE refunds r SET payment_reference = o.payment_reference
  FROM orders o
 WHERE o.order_id = r.order_id AND r.payment_reference IS NULL;

-- Down Migration
DROP INDEX refunds_order_payment_idx;
ALTER TABLE refunds DROP COLUMN pending_since;
ALTER TABLE refunds DROP COLUMN sent_to_gateway_at;
ALTER TABLE refunds DROP COLUMN payment_reference;
